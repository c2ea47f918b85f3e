"""Write the notebooks in this directory from the cell sources below.

The notebooks are kept here as readable Python so that a change to one is an ordinary diff. After
editing, regenerate them (no dependency beyond the standard library; outputs are not stored):

    python notebooks/_build.py

``tests/test_notebooks.py`` runs every ``notebooks/*.ipynb`` at small sizes.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

SETTINGS_COMMENT = "# the test suite runs a shrunken version"


def md(text: str) -> tuple[str, str]:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", textwrap.dedent(text).strip("\n"))


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["01_quickstart_metamer"] = [
    md(
        """
        # Quick start: a metamer of a front-end model

        A **metamer** of an image, for a given model, is another image with the same model
        representation: the model cannot tell the two apart although their pixels differ.
        Metamers are a sharp test of a model of vision (Freeman & Simoncelli 2011): if a
        model's metamers also look identical to a human observer, the model discards only
        information that vision discards; if an observer sees the difference, the model is
        missing something. The idea goes back to colour matching and to texture synthesis by
        matching statistics (Portilla & Simoncelli 2000; see notebook 02).

        Synthesizing a metamer asks one thing of a model: that it be a differentiable function
        from an image to a representation. Starting from noise, the pixels of an image `x` are
        adjusted by gradient descent on

        $$\\ell\\big(f(x), f(\\text{target})\\big) + \\lambda\\, P(x),$$

        where `f` is the model, `ℓ` a distance between representations (mean squared error by
        default) and `P` a penalty that keeps pixels in [0, 1].

        Here the model is `OnOff`, a front end of the early visual system: on- and off-centre
        channels with luminance and contrast gain control, with parameters fit to human
        perceptual data (Berardino et al. 2017). The notebook covers the basic workflow: build a
        `Metamer`, run `synthesize`, continue the run, read the history, plot.

        **References**

        - J. Freeman & E. P. Simoncelli (2011). Metamers of the ventral stream. *Nature
          Neuroscience* 14, 1195–1201.
        - J. Portilla & E. P. Simoncelli (2000). A parametric texture model based on joint
          statistics of complex wavelet coefficients. *IJCV* 40, 49–70.
        - A. Berardino, J. Ballé, V. Laparra & E. P. Simoncelli (2017). Eigen-distortions of
          hierarchical representations. *NeurIPS* 30.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 64 if SMALL else 256  # image height and width
        max_iter = 5 if SMALL else 300  # iterations of the first run
        more_iter = 5 if SMALL else 200  # iterations when the run is continued
        """
    ),
    code(
        """
        import jax
        import jax.numpy as jnp
        import matplotlib.pyplot as plt
        import optax

        import jaxoptic as jo

        jax.devices()
        """
    ),
    md(
        """
        ## The target and the model

        In jaxoptic one image is an array `(channels, height, width)`, here float32 in [0, 1].
        A batch of images is not an extra axis of the functions but a `jax.vmap` over them
        (notebook 06).
        """
    ),
    code(
        """
        start = (256 - size) // 2
        image = jo.data.camera()[:, start : start + size, start : start + size]
        image.shape, image.dtype
        """
    ),
    code(
        """
        model = jo.models.OnOff((31, 31), pretrained=True)
        representation = model(image)
        representation.shape  # an on and an off channel at every pixel
        """
    ),
    code(
        """
        jo.plot.imshow([image, *representation], title=["target", "on channel", "off channel"]);
        """
    ),
    md(
        """
        ## Synthesis

        A `Metamer` holds the configuration: target, model, loss, penalty and an
        [optax](https://optax.readthedocs.io) optimizer (here Adam). Everything that changes
        during synthesis lives in a separate *state*, made by `init` (uniform noise from a
        random key) and advanced by `jaxoptic.synthesize`, which runs the steps in compiled
        chunks and shows a progress bar.

        The default stopping rule is plenoptic's: stop when the loss changed by less than
        `stop_criterion` (default `1e-4`) over the last `stop_iters_to_check` (50)
        iterations. The OnOff loss starts near `3e-4`, so that default would stop long
        before convergence; the threshold has to be set relative to the loss of the problem.
        """
    ),
    code(
        """
        met = jo.Metamer(image, model, optimizer=optax.adam(0.01))
        state = met.init(key=jax.random.key(0))
        state, history = jo.synthesize(
            met, state, max_iter=max_iter, store_progress=10, stop_criterion=1e-9
        )
        jo.Status(int(state.status)).name, int(state.iteration), float(history.losses[-1])
        """
    ),
    md(
        """
        `synthesize` returns the final state and a `History` of per-iteration records. Calling
        it again on the returned state continues the run where it stopped (same optimizer
        state, nothing recompiled), and histories concatenate with `+`.
        """
    ),
    code(
        """
        state, more = jo.synthesize(met, state, max_iter=more_iter, store_progress=10, stop_criterion=1e-9)
        history = history + more
        int(state.iteration), len(history), sorted(history.records)
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 3, figsize=(12, 3), layout="constrained")
        for ax, name in zip(axes, ["losses", "gradient_norm", "pixel_change_norm"], strict=True):
            ax.semilogy(history.iterations, history.records[name])
            ax.set(xlabel="iteration", title=name)
        history.saved_iterations  # the images kept by store_progress=10
        """
    ),
    md(
        """
        ## The metamer

        The representation of the metamer matches the target's to a fraction of a percent,
        yet its pixels differ a lot: OnOff's luminance gain control divides out the local mean
        luminance, so slow luminance changes are nearly invisible to the model, and the
        metamer keeps the smooth shading of its noise start (see the difference image). Fine
        structure, edges and local contrast, to which the model is sensitive, are reproduced.
        Isolated pixels left from the noise are corrected only slowly (their number keeps
        falling with more iterations).
        Whether a human observer sees these differences is the experimental question the
        metamer poses.
        """
    ),
    code(
        """
        jo.plot.imshow(
            [image, state.image, state.image - image],
            title=["target", "metamer", "metamer - target"],
        );
        """
    ),
    code(
        """
        metamer_representation = model(state.image)
        representation_error = jnp.linalg.norm(metamer_representation - representation) / jnp.linalg.norm(
            representation
        )
        pixel_difference = jnp.linalg.norm(state.image - image) / jnp.linalg.norm(image)
        print(f"relative representation error: {float(representation_error):.3g}")
        print(f"relative pixel difference:     {float(pixel_difference):.3g}")
        """
    ),
    md(
        """
        `synthesis_status` shows the metamer, the loss curve and the representation error
        (metamer minus target, per channel of the model) at one iteration; with
        `store_progress` any stored iteration can be shown, and `synthesis_animate` makes a
        video of the whole run.
        """
    ),
    code(
        """
        jo.plot.synthesis_status(met, state, history);
        """
    ),
    code(
        """
        jo.plot.synthesis_imshow(met, state, history, iteration=0);  # the noise start
        """
    ),
    md(
        """
        ## Under the hood

        The method and the state are [equinox](https://docs.kidger.site/equinox/) modules
        (pytrees of arrays), and `step` is a pure function, so the usual JAX transformations
        apply: `jax.jit(met.step)` compiles one step, `jax.vmap` runs many syntheses at once
        (notebook 06), and the state, a pytree of arrays only, can be checkpointed
        (`jaxoptic.io`).
        """
    ),
    code(
        """
        import dataclasses

        type(state).__name__, [field.name for field in dataclasses.fields(state)]
        """
    ),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["02_portilla_simoncelli_textures"] = [
    md(
        """
        # Texture metamers with the Portilla-Simoncelli statistics

        Two patches of the same texture (gravel, grass, a brick wall) look alike although no
        pixel matches. Julesz conjectured that textures are perceived through a set of
        statistics; Portilla & Simoncelli (2000) proposed a concrete set, computed from a
        complex steerable pyramid (a multi-scale, oriented decomposition like that of primary
        visual cortex):

        - marginal statistics of the pixels (mean, variance, skewness, kurtosis, range) and of
          the lowpass images reconstructed at each scale;
        - autocorrelations of the lowpass reconstructions and of the subband magnitudes
          (periodic structure, spatial extent of features);
        - correlations of subband magnitudes across orientations and across scales (edges,
          corners, co-occurring features), and cross-scale phase correlations (sharp vs
          blurred edges).

        A texture metamer is an image with the same statistics as a target texture. If the
        metamers of a texture look like the same texture, the statistics capture its
        appearance; where they fail (e.g. the long straight joints of a brick wall), the model
        is missing a statistic that vision uses. Synthesizing a metamer asks of the model only
        that the statistics be differentiable functions of the image.

        This notebook synthesizes a texture metamer with the tuned recipe, plots the
        statistics and their error, runs coarse-to-fine synthesis (`MetamerCTF`, as in the
        original paper) and compares the statistics reached.

        **Reference**: J. Portilla & E. P. Simoncelli (2000). A parametric texture model based
        on joint statistics of complex wavelet coefficients. *International Journal of Computer
        Vision* 40(1), 49–70.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 64 if SMALL else 256  # image height and width
        n_scales = 2 if SMALL else 4  # pyramid scales (size must be divisible by 2 ** n_scales)
        spatial_corr_width = 5 if SMALL else 7  # width of the autocorrelation windows
        max_iter = 5 if SMALL else 100  # L-BFGS iterations of the recipe
        ctf_max_iter = 15 if SMALL else 1000  # Adam iterations of coarse-to-fine synthesis
        ctf_iters_to_check = 3 if SMALL else 50  # iterations per coarse-to-fine stage, at least
        """
    ),
    code(
        """
        import jax
        import jax.numpy as jnp
        import matplotlib.pyplot as plt
        import numpy as np
        import optax

        import jaxoptic as jo
        """
    ),
    md(
        """
        ## The target texture and its statistics

        The recipe `portilla_simoncelli_metamer` builds the model for the image's shape, the
        loss (plenoptic's reweighting of the statistics), the range penalty, an L-BFGS
        optimizer and the initial image (the target's mean plus uniform noise). Its `Metamer`
        holds the target's statistics, `model(image)`: one row of `n_stats` numbers per
        channel, in plenoptic's order (710 for the default 4 scales and 4 orientations).
        """
    ),
    code(
        """
        image = jo.data.brick()[:, :size, :size]
        met, state = jo.recipes.portilla_simoncelli_metamer(
            image, key=jax.random.key(0), n_scales=n_scales, spatial_corr_width=spatial_corr_width
        )
        initial_image = state.image
        ps = met.model
        target_stats = met.target_representation
        target_stats.shape, ps.scales
        """
    ),
    md(
        """
        `to_dict` splits the statistics into their named groups (redundant entries, e.g. the
        symmetric halves of autocorrelations, are NaN there). `plot_representation` with the
        model summarises each group; the autocorrelation and cross-correlation groups are
        shown as norms, one value per scale.
        """
    ),
    code(
        """
        {name: value.shape for name, value in ps.to_dict(target_stats).items()}
        """
    ),
    code(
        """
        jo.plot.imshow(image, title="target")
        jo.plot.plot_representation(target_stats, model=ps, title="statistics of the target");
        """
    ),
    md(
        """
        ## Synthesis

        The recipe's L-BFGS makes one objective evaluation per iteration; about 100
        iterations give a good metamer at 256 x 256.
        """
    ),
    code(
        """
        state, history = jo.synthesize(met, state, max_iter=max_iter)
        jo.Status(int(state.status)).name, float(history.losses[0]), float(history.losses[-1])
        """
    ),
    code(
        """
        jo.plot.imshow([image, state.image], title=["target", "metamer (L-BFGS)"]);
        """
    ),
    md(
        """
        The error of the statistics, metamer minus target, in the same summary. (The
        recipe's loss, as plenoptic's, ignores the pixel minimum and maximum, which the range
        penalty takes care of, and weights the variance of the highpass residual by 100.)
        """
    ),
    code(
        """
        stats = ps(state.image)
        jo.plot.plot_representation(stats - target_stats, model=ps, title="metamer - target");
        """
    ),
    code(
        """
        jo.plot.synthesis_status(met, state, history);
        """
    ),
    md(
        """
        ## Coarse to fine

        Portilla & Simoncelli matched the statistics one scale at a time, from coarse to fine.
        `MetamerCTF` does the same: it first matches the pixel statistics and the coarsest
        scale, then adds finer scales one at a time, and finally optimizes all statistics
        together. A stage ends when its loss changed by less than `change_scale_criterion`
        over `ctf_iters_to_check` iterations and it ran at least that long; with
        `change_scale_criterion=None` each stage runs exactly `ctf_iters_to_check` iterations.
        The schedule lives in the state, so the whole run is one compiled loop. This run uses
        Adam on the plain L2 loss (plenoptic's usual coarse-to-fine setup) from the same
        initial image.
        """
    ),
    code(
        """
        ctf = jo.MetamerCTF(image, ps, loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01))
        ctf_state = ctf.init(initial_image=initial_image)
        ctf_state, ctf_history = jo.synthesize(
            ctf,
            ctf_state,
            max_iter=ctf_max_iter,
            change_scale_criterion=None,
            ctf_iters_to_check=ctf_iters_to_check,
        )
        ctf.scales, ctf.scales_timing(ctf_state)
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
        ax.semilogy(ctf_history.iterations, ctf_history.scales_loss, label="loss of the current stage")
        ax.semilogy(ctf_history.iterations, ctf_history.losses, label="loss of all statistics")
        for name, timing in ctf.scales_timing(ctf_state).items():
            if timing:  # [start, stop] of each stage that has started
                ax.axvline(timing[0], color="gray", lw=0.5)
                ax.text(
                    timing[0],
                    0.98,
                    f" {name}",
                    rotation=90,
                    va="top",
                    fontsize=8,
                    transform=ax.get_xaxis_transform(),
                )
        ax.set(xlabel="iteration", ylabel="loss")
        ax.legend(loc="upper right");
        """
    ),
    code(
        """
        jo.plot.imshow(
            [image, state.image, ctf_state.image],
            title=["target", "L-BFGS (all statistics)", "Adam, coarse to fine"],
        );
        """
    ),
    md(
        """
        ## Comparing the statistics

        For each group of statistics, the relative error of each metamer,
        `‖stats(metamer) - stats(target)‖ / ‖stats(target)‖` (NaN entries left out). The two
        runs use different losses and optimizers, so this compares the statistics they reach,
        not the methods in general.
        """
    ),
    code(
        """
        target_groups = ps.to_dict(target_stats)


        def relative_errors(x):
            groups = ps.to_dict(ps(x))
            return {
                name: float(
                    jnp.sqrt(jnp.nansum((groups[name] - target_groups[name]) ** 2))
                    / jnp.sqrt(jnp.nansum(target_groups[name] ** 2))
                )
                for name in target_groups
            }


        errors = {
            "L-BFGS": relative_errors(state.image),
            "coarse to fine": relative_errors(ctf_state.image),
        }
        names = list(target_groups)
        fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
        for i, (label, err) in enumerate(errors.items()):
            ax.barh(np.arange(len(names)) + 0.4 * i, [err[n] for n in names], height=0.4, label=label)
        ax.set(yticks=np.arange(len(names)) + 0.2, yticklabels=names, xscale="log", xlabel="relative error")
        ax.invert_yaxis()
        ax.legend();
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
        t = np.asarray(target_stats).ravel()
        for label, x in [("L-BFGS", state.image), ("coarse to fine", ctf_state.image)]:
            ax.plot(t, np.asarray(ps(x)).ravel(), ".", ms=3, label=label)
        lim = np.nanmin(t), np.nanmax(t)
        ax.plot(lim, lim, "k", lw=0.5)
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set(xlabel="statistic of the target", ylabel="statistic of the metamer")
        ax.legend();
        """
    ),
    md(
        """
        At full size most groups are matched to a few percent by both runs. The exception is
        the variance of the highpass residual, a single small number that high-frequency noise
        left from the start inflates; the coarse-to-fine run, which optimizes that scale only
        in its last stage, keeps visibly more of that noise.

        Both metamers reproduce the look of the brick texture locally (mortar lines, the grain
        of the bricks) but not its global layout: the rows of bricks are no longer straight
        and regular, long-range structure that these local statistics do not constrain. Try
        `jo.data.grass()` or `jo.data.gravel()`: less regular textures, which such statistics
        are known to capture better.
        """
    ),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["03_mad_competition"] = [
    md(
        """
        # Maximum differentiation (MAD) competition: MSE vs SSIM

        Image-quality metrics are meant to predict how different two images look. Testing a
        metric on a fixed set of distorted images can only sample a tiny part of the space of
        distortions. MAD competition (Wang & Simoncelli 2008) instead *synthesizes* the
        images that best discriminate two metrics. Starting from a reference image plus noise,
        it looks for

        - the image that **minimizes** metric A and the one that **maximizes** A while metric
          B is held at its initial value, and
        - the same pair with the roles of A and B exchanged.

        If metric B were a perfect model of perception, the two images that hold B fixed would
        look equally distorted; when one of them looks clearly better, that pair is a
        counterexample to B, found by metric A. Each metric thus attacks the other, and the
        four images compare them far more efficiently than a random set. The method asks of
        each metric that it be a differentiable distance (0 for identical images).

        Here A is the mean squared error and B is `1 - SSIM` (the structural similarity index
        of Wang et al. 2004).

        **References**

        - Z. Wang & E. P. Simoncelli (2008). Maximum differentiation (MAD) competition: a
          methodology for comparing computational models of perceptual quantities. *Journal of
          Vision* 8(12):8, 1–13.
        - Z. Wang, A. C. Bovik, H. R. Sheikh & E. P. Simoncelli (2004). Image quality
          assessment: from error visibility to structural similarity. *IEEE Transactions on
          Image Processing* 13(4), 600–612.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 32 if SMALL else 256  # image height and width
        max_iter = 5 if SMALL else 1000  # iterations of each of the four syntheses
        """
    ),
    code(
        """
        import jax

        import jaxoptic as jo
        """
    ),
    md(
        """
        ## The reference image and the metrics

        SSIM is a similarity (1 for identical images); MAD needs distances, so the second
        metric is `1 - SSIM`.
        """
    ),
    code(
        """
        start = (256 - size) // 2
        image = jo.data.camera()[:, start : start + size, start : start + size]


        def ssim_distance(a, b):
            return 1 - jo.metrics.ssim(a, b)


        # distances: 0 for identical images (one value per channel)
        ssim_distance(image, image), jo.metrics.mse(image, image)
        """
    ),
    md(
        """
        ## The four syntheses, as one batch

        `recipes.mad_competition_set` returns the four `MADCompetition`s and their states
        stacked along a leading batch axis (lanes: minimize MSE, maximize MSE, minimize
        1 - SSIM, maximize 1 - SSIM), all from the same noisy start, so that one compiled
        `synthesize` call runs all four, each with its own optimizer state and stopping.

        The objective of a lane is `±A(x) + λ (B(x₀) - B(x))² + penalty`, where `λ`
        (`metric_tradeoff_lambda`, one value for the lanes that optimize MSE and one for those
        that optimize 1 - SSIM) keeps the held metric fixed. Left as `None`, it is chosen as
        plenoptic does, from the ratio of the two metrics on a random image, with a warning
        that shows the value: a starting point. Here that rule gives 0.1 and 10, far too weak
        (the held metric drifts by tens of percent); `(1e3, 1e5)` holds it within about 1%
        (see the table below). Check the held metric whenever you change the image, the
        noise level or the metrics.
        """
    ),
    code(
        """
        mads, states = jo.recipes.mad_competition_set(
            image,
            jo.metrics.mse,
            ssim_distance,
            key=jax.random.key(0),
            initial_noise=0.1,
            metric_tradeoff_lambda=(1e3, 1e5),
        )
        states.image.shape, mads.metric_tradeoff_lambda
        """
    ),
    code(
        """
        states, history = jo.synthesize(mads, states, max_iter=max_iter)
        [jo.Status(int(s)).name for s in states.status]
        """
    ),
    md(
        """
        ## The MAD images

        Rows: reference and noisy start; MSE minimized and maximized at fixed SSIM; 1 - SSIM
        minimized and maximized at fixed MSE. At full size the bottom row is the classic
        result: two images with the **same MSE** as the noisy start, one of which looks
        almost clean (the noise it must keep collects in the border, which SSIM, computed
        without padding, ignores) while the other is badly distorted, a counterexample to MSE.
        The middle row holds SSIM fixed: maximizing MSE saturates the noise in the flat
        regions (sky, ground), where SSIM is least sensitive, and looks clearly worse than the
        image that minimizes MSE, so SSIM fails too, though less strikingly.
        """
    ),
    code(
        """
        jo.plot.mad_imshow_all((mads, states, history), metric1_name="MSE", metric2_name="1 - SSIM");
        """
    ),
    code(
        """
        jo.plot.mad_loss_all((mads, states, history), metric1_name="MSE", metric2_name="1 - SSIM");
        """
    ),
    md(
        """
        Both metrics on the final images: each lane moved its optimized metric and (nearly)
        kept the other at the start's value.
        """
    ),
    code(
        """
        lanes = ["min MSE", "max MSE", "min 1-SSIM", "max 1-SSIM"]


        def both_metrics(x):
            return float(jo.metrics.mse(image, x)[0]), float(ssim_distance(image, x)[0])


        print(f"{'':12s}{'MSE':>10s}{'1 - SSIM':>10s}")
        for name, x in [("start", states.initial_image[0]), *zip(lanes, states.image, strict=True)]:
            print(f"{name:12s}" + "".join(f"{value:10.4g}" for value in both_metrics(x)))
        """
    ),
    md(
        """
        One lane of the batch can be inspected like any single synthesis by passing `lane=`
        to the plotting functions:
        """
    ),
    code(
        """
        jo.plot.synthesis_status(mads, states, history, lane=3);
        """
    ),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["04_eigendistortions"] = [
    md(
        """
        # Eigendistortions: the most and least noticeable distortions of a model

        How visible is a small distortion `ε` of an image `x` to a model `f`? To first order
        the representation changes by `J ε`, with `J` the Jacobian of `f` at `x`; if the
        model's responses carry additive Gaussian noise, the distortion's discriminability
        grows with `‖J ε‖² = εᵀ JᵀJ ε`. `F = JᵀJ` is the Fisher information matrix of the
        model at the image, and among distortions of a fixed size its eigenvector with the
        largest eigenvalue is the **most noticeable** distortion for the model, its
        eigenvector with the smallest eigenvalue the **least noticeable**. These are the
        eigendistortions of Berardino et al. (2017). Showing them to human observers tests
        the model: a good model's top eigendistortion is more visible to people than its
        bottom one, by about the ratio of the eigenvalues.

        The method asks of a model only that it be differentiable at the image. `F` is never
        formed: jaxoptic multiplies by it through the model's linearisation (`F v = Jᵀ(J v)`)
        and finds the extreme eigenvectors with a Lanczos iteration, which stops when every
        eigenpair has a small residual `‖F v - λv‖ / λ_max` (a certificate of accuracy).

        **Reference**: A. Berardino, J. Ballé, V. Laparra & E. P. Simoncelli (2017).
        Eigen-distortions of hierarchical representations. *Advances in Neural Information
        Processing Systems* 30.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 32 if SMALL else 256  # image height and width
        max_iter = 50 if SMALL else 2000  # Lanczos steps at most (one Fisher product each)
        small_size = 16 if SMALL else 32  # image size for the comparison with the exact solver
        """
    ),
    code(
        """
        import jax
        import jax.numpy as jnp
        import matplotlib.pyplot as plt
        import numpy as np

        import jaxoptic as jo
        """
    ),
    md(
        """
        ## The model and the image

        The OnOff front end (on- and off-centre channels with luminance and contrast gain
        control, fit to human data by Berardino et al.).
        """
    ),
    code(
        """
        start = (256 - size) // 2
        image = jo.data.camera()[:, start : start + size, start : start + size]
        model = jo.models.OnOff((31, 31), pretrained=True)
        jo.plot.imshow(image, title="image");
        """
    ),
    md(
        """
        ## Top and bottom eigendistortions

        `k` eigendistortions from each end of the spectrum. `synthesize` runs the Lanczos
        steps; its `stop_criterion` is the residual tolerance (default `1e-4`), and the run is
        `CONVERGED` when every pair meets it.
        """
    ),
    code(
        """
        eig = jo.Eigendistortion(image, model, k=2)
        state, history = jo.synthesize(eig, eig.init(key=jax.random.key(0)), max_iter=max_iter)
        jo.Status(int(state.status)).name, int(state.iteration)
        """
    ),
    code(
        """
        for index, value, residual in zip(
            state.eigenindex, state.eigenvalues, state.residuals, strict=True
        ):
            print(f"#{int(index):<6d} eigenvalue {float(value):.4g}, residual {float(residual):.1e}")
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
        axes[0].semilogy(history.iterations, history.losses)
        axes[0].axhline(1e-4, color="gray", ls="--")
        axes[0].set(xlabel="Lanczos step", title="largest relative residual")
        axes[1].semilogy(history.iterations, history.top_eigenvalue, label="top")
        axes[1].semilogy(history.iterations, np.abs(history.bottom_eigenvalue), label="bottom")
        axes[1].set(xlabel="Lanczos step", title="eigenvalue estimates")
        axes[1].legend();
        """
    ),
    md(
        """
        Top row: the eigendistortions; bottom row: the image plus a multiple of each (the
        bottom one scaled up more, to be visible at all). At full size, OnOff's most
        noticeable distortion is a fine high-contrast pattern in the dark, flat coat at the
        left border: where luminance and contrast are low, both gain controls leave the model
        most sensitive (and the filters' reflected padding adds to it at the border;
        `OnOff(..., apply_mask=True)` weights the responses by a central disk to keep the
        analysis away from the borders). The least noticeable distortion is a smooth change
        of intensity that is largest where the image is bright, a change of local mean
        luminance, which the luminance gain control divides out.
        """
    ),
    code(
        """
        jo.plot.eigendistortion_imshow_all(eig, state, eigenindex=[0, -1], distortion_scale=[3.0, 10.0]);
        """
    ),
    md(
        """
        The eigenvalues are the model's discriminability of each distortion: add each
        eigendistortion, at the same small amplitude, to the image and measure how far the
        representation moves. For a small amplitude `a` the squared change is close to
        `a² λ`.
        """
    ),
    code(
        """
        a = 0.05
        base = model(image)
        for name, row in [("top", 0), ("bottom", -1)]:
            change = jnp.sum((model(image + a * state.eigendistortions[row]) - base) ** 2)
            predicted = a**2 * float(state.eigenvalues[row])
            print(f"{name:6s} ‖Δf‖² = {float(change):.3g}   a² λ = {predicted:.3g}")
        """
    ),
    md(
        """
        ## Lanczos against the exact solution

        On a small image the Fisher matrix can be formed densely and diagonalised
        (`method="exact"`, one product per pixel). Its full spectrum shows where the
        computed eigenvalues lie; the Lanczos eigenvectors agree with the exact ones up to
        sign (|cosine| close to 1), as the residual certificate promises.
        """
    ),
    code(
        """
        start = (size - small_size) // 2
        small = image[:, start : start + small_size, start : start + small_size]
        exact = jo.Eigendistortion(small, model, k=2, method="exact")
        exact_state, _ = jo.synthesize(exact, exact.init(), max_iter=1)
        lanczos = jo.Eigendistortion(small, model, k=2)
        lanczos_state, _ = jo.synthesize(lanczos, lanczos.init(key=jax.random.key(1)), max_iter=500)
        cosines = jnp.abs(
            jnp.sum(exact_state.eigendistortions * lanczos_state.eigendistortions, axis=(1, 2, 3))
        )
        for i, index in enumerate(lanczos_state.eigenindex):
            print(
                f"#{int(index):<5d} exact {float(exact_state.eigenvalues[i]):.6g}  "
                f"lanczos {float(lanczos_state.eigenvalues[i]):.6g}  |cos| {float(cosines[i]):.6f}"
            )
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        ax.semilogy(exact_state.spectrum, ".", ms=2, label="exact spectrum")
        ax.semilogy(lanczos_state.eigenindex, lanczos_state.eigenvalues, "o", mfc="none", label="Lanczos")
        ax.set(xlabel="eigenvalue index (descending)", ylabel="eigenvalue")
        ax.legend();
        """
    ),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["05_geodesics"] = [
    md(
        """
        # Geodesics: the shortest path between two images, as a model sees it

        A model `f` turns the space of images into a curved space: the length of a small step
        `dx` is the length of the representation change, `‖J dx‖`. The shortest path between
        two images in this geometry is a **geodesic**. Hénaff & Simoncelli (2016) used
        geodesics to ask whether a representation *linearizes* natural transformations: if it
        does, the geodesic between an image and its transformed version (e.g. translated)
        passes through the intermediate transformed images, and the representation of the
        transformation is a straight line. For pixels, the geodesic is the straight line,
        the cross-fade ("pixelfade") between the two images.

        jaxoptic approximates a geodesic by a sequence of `n_steps + 1` images with fixed
        endpoints and minimizes its path energy, the mean squared length of the
        representation steps (whose minimizer is the constant-speed geodesic). The method asks
        of the model that it be differentiable. It is plenoptic 1.2's `Geodesic` (removed from
        later plenoptic versions as not yet robust: geodesics need not be unique and the
        optimization can be slow).

        **Reference**: O. J. Hénaff & E. P. Simoncelli (2016). Geodesics of learned
        representations. *International Conference on Learning Representations (ICLR)*.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 32 if SMALL else 64  # image height and width
        period = 8 if SMALL else 16  # grating period in pixels
        n_steps = 4 if SMALL else 8  # steps of the path (the shift is period / 2, one pixel a step)
        max_iter = 5 if SMALL else 1000  # iterations at most
        n_restarts = 2 if SMALL else 4  # random restarts
        restart_iter = 3 if SMALL else 300  # iterations of each restart
        """
    ),
    code(
        """
        import jax
        import jax.numpy as jnp
        import matplotlib.pyplot as plt
        import numpy as np

        import jaxoptic as jo
        """
    ),
    md(
        """
        ## Two images: a grating and its shifted copy

        A vertical sine grating and the same grating shifted by half a period. The
        pixelfade between them lowers the contrast down to a uniform gray halfway; the
        translation (a "natural video" of the transformation, `translation_sequence`) keeps
        the contrast and moves the stripes, one pixel per frame.
        """
    ),
    code(
        """
        x = jnp.arange(size)
        grating = 0.5 + 0.25 * jnp.sin(2 * jnp.pi * x / period)
        image_a = jnp.broadcast_to(grating, (1, size, size)).astype(jnp.float32)
        translation = jo.synthesis.translation_sequence(image_a, n_steps)  # shifts by 0..n_steps pixels
        image_b = translation[-1]
        jo.plot.imshow([image_a, image_b], title=["image a", "image b"]);
        """
    ),
    md(
        """
        ## The geodesic under OnOff

        The model is the OnOff front end (Berardino et al. 2017). The default optimizer is
        plenoptic's (Adam with AMSGrad, learning rate 0.001); a larger rate converges faster
        here. The stopping rule watches the size of the pixel changes.
        """
    ),
    code(
        """
        model = jo.models.OnOff((31, 31), pretrained=True)
        geo = jo.Geodesic(image_a, image_b, model, n_steps=n_steps, optimizer=jo.optimizers.amsgrad(0.01))
        state = geo.init()  # starts from the pixelfade
        state, history = jo.synthesize(geo, state, max_iter=max_iter)
        jo.Status(int(state.status)).name, int(state.iteration)
        """
    ),
    code(
        """
        jo.plot.synthesis_loss(geo, state, history);
        """
    ),
    code(
        """
        rows = [geo.pixelfade, state.image, translation]
        jo.plot.imshow(
            [frame for row in rows for frame in row],
            col_wrap=n_steps + 1,
            vrange=(0, 1),
            title=[
                f"{name} {t}"
                for name in ["pixelfade", "geodesic", "translation"]
                for t in range(n_steps + 1)
            ],
        );
        """
    ),
    md(
        """
        A horizontal cut through each frame shows the difference: the geodesic, like the
        pixelfade, goes through a contrast reversal with a low-contrast middle, instead of
        moving the stripes.
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True, layout="constrained")
        for ax, (name, seq) in zip(
            axes,
            [("pixelfade", geo.pixelfade), ("geodesic", state.image), ("translation", translation)],
            strict=True,
        ):
            colors = plt.cm.viridis(np.linspace(0, 1, n_steps + 1))
            for frame, color in zip(np.asarray(seq), colors, strict=True):
                ax.plot(frame[0, size // 2], color=color)
            ax.set(title=name, xlabel="x (pixels)")
        axes[0].set(ylabel="luminance");
        """
    ),
    md(
        """
        ## How straight is each path in representation space?

        `plot_deviation_from_line` places the representation of every frame relative to the
        straight line between the endpoint representations (in units of their distance).
        For OnOff the pixelfade is already almost straight and the geodesic slightly
        straighter and evenly spaced, while translation is a strongly curved path: this
        model does not linearize translation, it treats the contrast reversal as the short
        way. The path energies say the same.
        """
    ),
    code(
        """
        jo.plot.plot_deviation_from_line(geo, state, natural_video=translation);
        """
    ),
    code(
        """
        paths = {"pixelfade": geo.pixelfade, "geodesic": state.image, "translation": translation}
        energies = jax.jit(jax.vmap(geo.path_energy))(jnp.stack(list(paths.values())))
        for name, energy in zip(paths, energies, strict=True):
            print(f"{name:12s} path energy {float(energy):.4g}")
        """
    ),
    md(
        """
        ## Random restarts

        Geodesics need not be unique, and a start far from the pixelfade may converge
        elsewhere. `recipes.geodesic_restarts` starts one geodesic from each of several
        random Brownian bridges between the endpoints and runs them as one batch; the spread
        of the final path energies shows how much the result depends on the start. At full
        size all restarts end at the path energy of the run from the pixelfade (to about
        1e-5 relative): for this pair and model the geodesic appears to be unique.
        """
    ),
    code(
        """
        keys = jax.random.split(jax.random.key(0), n_restarts)
        geos, restart_states, restart_history, spread = jo.recipes.geodesic_restarts(
            image_a,
            image_b,
            model,
            keys=keys,
            n_steps=n_steps,
            max_iter=restart_iter,
            optimizer=jo.optimizers.amsgrad(0.01),
        )
        spread
        """
    ),
    code(
        """
        ax = jo.plot.plot_deviation_from_line(geos, restart_states, lane=spread["best"])
        ax.set_title("best restart");
        """
    ),
]

# ---------------------------------------------------------------------------------------------------
NOTEBOOKS["06_batched_synthesis"] = [
    md(
        """
        # Many syntheses at once: batches, devices and checkpoints

        A metamer is not unique: a model's metamers of one image form a whole set, and it is
        that set, sampled from many random starts, that characterizes the model's
        invariances. Studies of texture metamers (Portilla & Simoncelli 2000) and of
        metamers of the visual system (Freeman & Simoncelli 2011) synthesize many images per
        target, for many targets. This notebook shows how to run such a study efficiently:

        1. **one compiled call** for many images × seeds (`equinox.filter_vmap` over a recipe);
        2. the batch **sharded across devices** (several CPU devices or GPUs);
        3. **checkpoints** during a long run, and resuming from the latest one with a result
           bitwise equal to an uninterrupted run.

        **References**

        - J. Portilla & E. P. Simoncelli (2000). A parametric texture model based on joint
          statistics of complex wavelet coefficients. *IJCV* 40, 49–70.
        - J. Freeman & E. P. Simoncelli (2011). Metamers of the ventral stream. *Nature
          Neuroscience* 14, 1195–1201.
        """
    ),
    code(
        f"""
        import os

        SMALL = os.environ.get("JAXOPTIC_NOTEBOOK_SMALL") == "1"  {SETTINGS_COMMENT}
        size = 64 if SMALL else 256  # image height and width
        n_scales = 2 if SMALL else 4  # Portilla-Simoncelli scales
        spatial_corr_width = 5 if SMALL else 7
        n_seeds = 2 if SMALL else 4  # metamers per image
        max_iter = 6 if SMALL else 100  # iterations of the whole run
        checkpoint_every = 2 if SMALL else 25  # iterations between checkpoints
        """
    ),
    md(
        """
        ## Devices

        On a GPU machine `jax.devices()` lists the GPUs. On CPU, XLA shows one device by
        default; the flag `--xla_force_host_platform_device_count=N` splits the CPU into `N`
        devices so that a batch runs on `N` cores in parallel. The flag must be set **before
        JAX starts** (before the first `import jax` in the kernel, or in the shell:
        `XLA_FLAGS=--xla_force_host_platform_device_count=4 jupyter lab`). The next cell sets it
        when nothing else did; in a kernel where JAX is already running it has no effect and
        the notebook runs on one device.
        """
    ),
    code(
        """
        os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

        import equinox as eqx
        import jax
        import jax.numpy as jnp
        import matplotlib.pyplot as plt
        import numpy as np

        import jaxoptic as jo

        jax.devices()
        """
    ),
    md(
        """
        ## A batch of images × seeds

        The recipe is a plain function of arrays, `(image, key) -> (method, state)`, so
        `equinox.filter_vmap` over it builds every method and state with a leading batch axis
        (the model and optimizer, which are not arrays, are shared). Here: texture images ×
        random seeds.
        """
    ),
    code(
        """
        textures = {"brick": jo.data.brick(), "grass": jo.data.grass(), "gravel": jo.data.gravel()}
        names = list(textures)[:2] if SMALL else list(textures)
        targets = jnp.stack([textures[name][:, :size, :size] for name in names])
        images = jnp.repeat(targets, n_seeds, axis=0)  # image i, seed s in lane i * n_seeds + s
        keys = jax.random.split(jax.random.key(0), len(images))
        labels = [f"{name}, seed {s}" for name in names for s in range(n_seeds)]


        def build(image, key):
            return jo.recipes.portilla_simoncelli_metamer(
                image, key=key, n_scales=n_scales, spatial_corr_width=spatial_corr_width
            )


        methods, states = eqx.filter_vmap(build)(images, keys)
        states.image.shape, states.iteration
        """
    ),
    md(
        """
        `synthesize` recognises a batch (`state.iteration` has a batch axis) and shards the
        batch axis across all local devices when the batch size divides evenly. Every lane
        keeps its own L-BFGS memory, line search and stopping rule; the progress bar shows the
        worst lane. On a CPU each device computes its lanes one after another inside the
        compiled call (`lanes_at_once=1`, the default there): a vectorized (`vmap`) batch of
        256×256 images no longer fits the cache and costs more than the images run one by one,
        so on a CPU the gain of a batch is the devices working in parallel (a batch of 8 on two
        CPU devices takes 0.6× the time of 8 runs one after another, see
        `benchmarks/README.md`). On a GPU the batch is vectorized (`lanes_at_once=None`).
        """
    ),
    code(
        """
        reference_states, reference_history = jo.synthesize(
            methods, states, max_iter=max_iter, chunk_size=checkpoint_every
        )
        reference_states.image.sharding
        """
    ),
    code(
        """
        panels, titles = [], []
        for i, name in enumerate(names):
            panels += [targets[i], *reference_states.image[i * n_seeds : (i + 1) * n_seeds]]
            titles += [f"target: {name}"] + [f"{name}, seed {s}" for s in range(n_seeds)]
        jo.plot.imshow(panels, title=titles, col_wrap=n_seeds + 1);
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        for lane, label in enumerate(labels):
            ax.semilogy(reference_history.iterations[lane], reference_history.losses[lane], label=label)
        ax.set(xlabel="iteration", ylabel="loss")
        ax.legend(fontsize=8);
        """
    ),
    md(
        """
        The metamers of one image from different seeds are different images (their pixels
        are almost uncorrelated) with the same statistics: a sample of the set of metamers.
        """
    ),
    code(
        """
        flat = np.asarray(reference_states.image).reshape(len(labels), -1)
        np.round(np.corrcoef(flat), 2)
        """
    ),
    md(
        """
        ## Checkpoints, an interruption, and resuming

        With `checkpoint_every=k` and `checkpoint_dir=...`, `synthesize` saves the batch
        (state and history) every `k` iterations and at the end, atomically, keeping the
        newest `checkpoint_keep` (3). Here a callback raises an exception halfway, as a
        crash or a job time limit would.
        """
    ),
    code(
        """
        import tempfile

        checkpoint_dir = os.path.join(tempfile.mkdtemp(), "checkpoints")


        class Interrupted(Exception):
            pass


        def interrupt_halfway(state, history):
            if int(np.max(state.iteration)) >= max_iter // 2:
                raise Interrupted


        try:
            jo.synthesize(
                methods,
                states,
                max_iter=max_iter,
                checkpoint_every=checkpoint_every,
                checkpoint_dir=checkpoint_dir,
                callback=interrupt_halfway,
            )
        except Interrupted:
            print("interrupted")
        jo.io.all_steps(checkpoint_dir)
        """
    ),
    md(
        """
        A new process would rebuild the methods exactly as before (nothing callable is stored
        in a checkpoint) and load the newest checkpoint. `load` checks the methods against the
        checkpoint's description (class, model options, target images, optimizer) and refuses
        a mismatch.
        """
    ),
    code(
        """
        methods, _ = eqx.filter_vmap(build)(images, keys)
        path = jo.io.latest(checkpoint_dir)
        loaded, history = jo.io.load(path, methods)
        path.name, loaded.iteration
        """
    ),
    code(
        """
        remaining = max_iter - int(np.max(loaded.iteration))
        resumed, more = jo.synthesize(
            methods,
            loaded,
            max_iter=remaining,
            checkpoint_every=checkpoint_every,
            checkpoint_dir=checkpoint_dir,
        )
        history = history + more
        jo.io.all_steps(checkpoint_dir)
        """
    ),
    md(
        """
        The resumed run ends **bitwise** where the uninterrupted run ended: same images,
        same optimizer states, same loss history. (This holds on the same backend and
        library versions; `load` warns when they differ. The uninterrupted run above used
        `chunk_size=checkpoint_every` so that both runs execute the same compiled program.)
        """
    ),
    code(
        """
        def bitwise_equal(a, b):
            a, b = np.asarray(a), np.asarray(b)
            return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


        same_state = all(
            bitwise_equal(a, b)
            for a, b in zip(jax.tree.leaves(reference_states), jax.tree.leaves(resumed), strict=True)
        )
        same_history = all(
            bitwise_equal(reference_history.records[name], history.records[name])
            for name in reference_history.records
        ) and bitwise_equal(reference_history.iterations, history.iterations)
        same_state, same_history
        """
    ),
    code(
        """
        assert same_state and same_history
        """
    ),
]


# ---------------------------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def notebook_json(cells: list[tuple[str, str]]) -> dict:
    out = []
    for i, (kind, text) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"cell-{i:02d}", "metadata": {}, "source": _lines(text)}
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        out.append(cell)
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        path = HERE / f"{name}.ipynb"
        path.write_text(json.dumps(notebook_json(cells), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
