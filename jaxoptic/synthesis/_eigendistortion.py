"""Eigendistortions: the image perturbations a model is most and least sensitive to.

The Fisher information matrix of a model ``y = f(x)`` at an image ``x`` under white Gaussian noise
on the response is ``F = JᵀJ``, with ``J`` the Jacobian of the (flattened) representation with
respect to the (flattened) image. Its eigenvectors with the largest and smallest eigenvalues are the
most and least noticeable distortions of ``x`` for the model (Berardino et al. 2017).

Three solvers, chosen with ``method=``, all run through :func:`jaxoptic.synthesize`:

- ``"lanczos"`` (default): thick-restart Lanczos with full reorthogonalisation. One step adds one
  Krylov vector (one product ``F q``); Rayleigh-Ritz on the basis gives the top and bottom Ritz pairs.
- ``"power"``: plenoptic's block power iteration, top block first, then the bottom block on the
  shifted operator ``F - λ_max I``.
- ``"exact"``: the dense ``F`` (``n`` Fisher products) and a full ``eigh``, in one step; small
  images only.

``F`` is never formed except by ``"exact"``: ``F v = Jᵀ(J v)`` uses the model's linearisation at the
image, computed once (``jax.linearize``) and transposed (``jax.linear_transpose``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float, Int, PyTree

from ._common import (
    check_finite_image,
    converged_status,
    refuse_options,
    status_array,
    strong_types,
)
from ._status import Status

__all__ = ["EXACT_MAX_SIZE", "Eigendistortion", "EigendistortionState"]

METHODS = ("lanczos", "power", "exact")

EXACT_MAX_SIZE = 4096
"""Largest image (``channels * height * width``) that ``method="exact"`` accepts: the dense Fisher
matrix and its eigenvectors take ``2 n²`` numbers (268 MB in float64 at this size)."""

DEFAULT_TOLERANCE = 1e-4  # the default relative residual tolerance (see Eigendistortion's Notes)

_EXACT_CHUNK = 32  # Fisher products per batch when forming the dense matrix


# -------------------------------------------------------------------------------------------------
# the model's linearisation


def _flat_model(model: Callable, shape: tuple[int, ...]) -> Callable:
    """``x_flat -> representation_flat``: every output leaf raveled and concatenated (complex
    leaves as real and imaginary parts), like plenoptic's flattened representation."""

    def f(x_flat):
        out = model(x_flat.reshape(shape))
        parts = []
        for leaf in jax.tree.leaves(out):
            leaf = jnp.ravel(leaf)
            if jnp.iscomplexobj(leaf):
                parts += [jnp.real(leaf), jnp.imag(leaf)]
            else:
                parts.append(leaf)
        return jnp.concatenate(parts)

    return f


@eqx.filter_jit
def _linearize(model, image, probe):
    """The model's output at ``image``, its linearisation ``v -> J v`` as a pytree (residuals are
    array leaves, the linear program is a static jaxpr) and ``J probe`` (to check the Jacobian).
    Compiled once per model structure and image shape, so methods built for different images share
    the jaxpr and hence one compiled ``synthesize``."""
    x = image.reshape(-1)
    y, jvp = jax.linearize(_flat_model(model, image.shape), x)
    return y, eqx.filter_closure_convert(jvp, x), jvp(probe)


def _check_jacobian(y, jv) -> None:
    """Construction-time checks of the model's output and of ``J probe`` (ValueError)."""
    if not bool(jnp.all(jnp.isfinite(y))):
        raise ValueError(
            "The model's representation of `image` contains NaN or Inf; check the model and the image."
        )
    if not bool(jnp.all(jnp.isfinite(jv))):
        raise ValueError(
            "The model's Jacobian at `image` contains NaN or Inf (is the model differentiable "
            "there?); eigendistortions need a finite Jacobian."
        )
    if not bool(jnp.any(jv != 0)):
        raise ValueError(
            "The model's Jacobian at `image` is zero: the representation does not change with the "
            "image, so the Fisher matrix is zero and there are no eigendistortions to find. Check "
            "the model (e.g. a saturated nonlinearity or a constant output) or pick another image."
        )


# -------------------------------------------------------------------------------------------------
# a conditional that stays a branch under vmap


def _batched_cond(pred, true_fn: Callable, false_fn: Callable, operands):
    """``true_fn(operands)`` if ``pred`` else ``false_fn(operands)``; both return the same structure.

    Alone this is ``lax.cond``. Under ``vmap`` ``lax.cond`` becomes a select that evaluates both
    branches for every lane; here the batch runs ``true_fn`` only when *some* lane needs it (and
    selects per lane), so a rare, expensive branch (a Lanczos restart) stays rare in a batch.
    """

    @custom_vmap
    def run(pred, operands):
        return jax.lax.cond(pred, true_fn, false_fn, operands)

    @run.def_vmap
    def _rule(axis_size, in_batched, pred, operands):
        pred_batched, ops_batched = in_batched

        def bcast(x, batched):
            return x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))

        pred = bcast(pred, pred_batched)
        operands = jax.tree.map(bcast, operands, ops_batched)

        def some(ops):
            yes = jax.vmap(true_fn)(ops)
            no = jax.vmap(false_fn)(ops)
            pick = lambda a, b: jnp.where(pred.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
            return jax.tree.map(pick, yes, no)

        out = jax.lax.cond(jnp.any(pred), some, jax.vmap(false_fn), operands)
        return out, jax.tree.map(lambda _: True, out)

    return run(pred, operands)


# -------------------------------------------------------------------------------------------------
# small numerical helpers


def _norms(x):
    return jnp.sqrt(jnp.sum(x * x, axis=-1))


def _fix_sign(y, fy):
    """Flip each row so that its largest-magnitude entry is positive (eigenvectors have no sign;
    this makes results reproducible across methods and runs)."""
    pivot = jnp.take_along_axis(y, jnp.argmax(jnp.abs(y), axis=-1)[:, None], axis=-1)
    s = jnp.where(pivot < 0, -1, 1).astype(y.dtype)
    return y * s, fy * s


def _normalize_rows(y, fy):
    nrm = _norms(y)[:, None]
    nrm = jnp.where(nrm > 0, nrm, 1)
    return y / nrm, fy / nrm


def _relative_residuals(y, fy, theta, lam_max):
    """``‖F y - θ y‖ / λ_max`` for each row."""
    return _norms(fy - theta[:, None] * y) / lam_max


@eqx.filter_jit
def _start_vectors(key, n: int, rows: int, dtype):
    """Two ``(rows, n)`` blocks with orthonormal rows drawn from ``key``: the start and a spare (the
    bottom start of ``"power"``; the source of fresh directions after a Lanczos breakdown)."""
    k1, k2 = jax.random.split(key)
    blocks = []
    for kk in (k1, k2):
        g = jax.random.normal(kk, (n, rows), dtype=dtype)
        blocks.append(jnp.linalg.qr(g)[0].T)
    return blocks[0], blocks[1]


# -------------------------------------------------------------------------------------------------
# the state


def _commit(new, st, finite, keep=None):
    """The state after a step: ``new`` where ``keep`` (default: the step was finite), else ``st``
    unchanged; the iteration counts finite steps and a non-finite one sets NONFINITE."""
    keep = finite if keep is None else keep
    out = jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, st)
    status = jnp.where(finite, st.status, status_array(Status.NONFINITE))
    return eqx.tree_at(
        lambda s: (s.iteration, s.status),
        out,
        (st.iteration + finite.astype(jnp.int32), status),
    )


class EigendistortionState(eqx.Module):
    """Everything that changes while eigendistortions are computed (arrays only: checkpoint it,
    vmap it).

    The results are always the top ``k`` then the bottom ``k`` eigenpairs of the Fisher matrix
    ``F = JᵀJ``, eigenvalues descending within each group, as plenoptic orders them.

    Attributes
    ----------
    image
        The image the model is linearised at ``(C, H, W)`` (constant; what ``store_progress`` keeps).
    eigenvalues
        ``(2k,)`` current estimates: Rayleigh quotients ``vᵀFv`` of the eigendistortions.
    eigendistortions
        ``(2k, C, H, W)`` unit-norm eigenvector estimates (sign chosen so that the largest-magnitude
        pixel is positive).
    residuals
        ``(2k,)`` certificates ``‖F v - λ v‖ / λ_max`` of each pair (``inf`` while not computed yet).
        Each is computed from stored Fisher products, not estimated from recurrences.
    iteration
        Steps taken (0-d int32): Lanczos vectors added, power steps, or 1 after ``"exact"``.
    loss
        The largest relative residual (what the progress bar shows and ``stop_criterion`` bounds).
    status
        A :class:`jaxoptic.Status` as 0-d int32; ``CONVERGED`` once every residual is below the
        tolerance.
    tolerance
        The residual tolerance of the current :func:`jaxoptic.synthesize` call (its
        ``stop_criterion``), used by ``"power"`` to switch from the top to the bottom block.
    spare
        Random unit rows drawn from the key at :meth:`Eigendistortion.init`: ``"power"``'s bottom start
        block ``(k, n)``; for ``"lanczos"`` ``(1, n)``, whose cyclic shifts give fresh directions when
        the Krylov space becomes invariant. Empty for ``"exact"``.
    basis, products, projection, basis_size, has_next
        Lanczos (``m = krylov_size``): orthonormal basis ``(m + 1, n)`` (row ``basis_size`` is the
        next vector), the products ``F q`` ``(m, n)``, the projected matrix ``QᵀFQ`` ``(m, m)``, the
        number of basis vectors with products, and whether a next vector exists (false once the
        basis spans the whole space). Empty for the other methods.
    block, phase, shift
        Power: the current orthonormal block ``(k, n)``, 0 (top) or 1 (bottom), and the shift
        ``λ_max`` of the bottom phase. Empty / unused for the other methods.
    spectrum
        Exact: all ``n`` eigenvalues, descending. Empty for the other methods.
    """

    image: Float[Array, "C H W"]
    eigenvalues: Float[Array, " two_k"]
    eigendistortions: Float[Array, "two_k C H W"]
    residuals: Float[Array, " two_k"]
    iteration: Int[Array, ""]
    loss: Float[Array, ""]
    status: Int[Array, ""]
    tolerance: Float[Array, ""]
    spare: Float[Array, "r n"]
    basis: Float[Array, "m1 n"]
    products: Float[Array, "m n"]
    projection: Float[Array, "m m"]
    basis_size: Int[Array, ""]
    has_next: Array
    block: Float[Array, "k n"]
    phase: Int[Array, ""]
    shift: Float[Array, ""]
    spectrum: Float[Array, " n"]

    @property
    def eigenindex(self) -> Int[Array, " two_k"]:
        """Position of each eigenpair in the full spectrum sorted descending: ``[0, ..., k - 1,
        n - k, ..., n - 1]`` (plenoptic's ``eigenindex``)."""
        n = int(np.prod(self.image.shape[-3:]))
        k = self.eigenvalues.shape[-1] // 2
        return jnp.concatenate([jnp.arange(k), jnp.arange(n - k, n)]).astype(jnp.int32)


# -------------------------------------------------------------------------------------------------
# the method


class Eigendistortion(eqx.Module):
    """Eigendistortions (Berardino et al. 2017): the top ``k`` and bottom ``k`` eigenvectors of the
    Fisher information matrix ``F = JᵀJ`` of ``model`` at ``image``.

    The module holds configuration only, including the model's linearisation at the image (computed
    once, here). The changing quantities live in an :class:`EigendistortionState` made by
    :meth:`init` and advanced by the pure :meth:`step`; run it with :func:`jaxoptic.synthesize`,
    whose ``stop_criterion`` is the **relative residual tolerance**: a run is ``CONVERGED`` when
    every requested pair has ``‖F v - λ v‖ ≤ stop_criterion · λ_max``.

    Parameters
    ----------
    image
        The image ``(C, H, W)``, finite floats. Results follow its dtype.
    model
        Callable ``image -> representation`` (an array or a pytree of arrays; all leaves are
        flattened and concatenated), differentiable at ``image``.
    k
        Number of top and of bottom eigendistortions (``1 <= k <= C * H * W // 2``).
    method
        ``"lanczos"`` (default), ``"power"`` or ``"exact"`` (see Notes).
    krylov_size
        Lanczos only: the number of basis vectors ``m`` kept before a thick restart (the basis takes
        ``2 m n`` numbers). Default ``min(n, max(32, 8 k))``; at least ``2 k + 1`` unless it equals
        ``n``.

    Raises
    ------
    ValueError
        For a bad ``k``, ``method`` or ``krylov_size``, a non-finite ``image``, ``"exact"`` on an
        image larger than :data:`EXACT_MAX_SIZE` pixels, a model whose output or Jacobian at the
        image is not finite, or whose Jacobian at the image is zero (no eigendistortion is defined).
    TypeError
        If ``model`` is not callable, ``image`` is not a float array, or the model's output is
        not floating point (an integer or boolean output has no gradient).

    Notes
    -----
    *Stopping.* plenoptic stops its power iteration when the eigenvalue estimate changes by less
    than ``stop_criterion=1e-7`` (absolute) between iterations. That is not an error bound: when the
    eigenvalue gap is small it stops far from the eigenvectors (on OnOff at 64x64 its top and bottom
    vectors have ``|cos| = 0.05`` and ``0.23`` with the true ones; ``benchmarks/eigendistortion.py``).
    Here every pair carries its residual and the run stops when all are at most ``stop_criterion``
    relative to ``λ_max``; then each eigenvalue is within ``stop_criterion · λ_max`` of an eigenvalue
    of ``F`` (within about ``(stop_criterion · λ_max)² / gap`` when it is separated by ``gap``) and
    the eigenvector's angle is at most about ``stop_criterion · λ_max / gap``. The default ``1e-4``
    (:attr:`default_stop_criterion`) thus gives eigenvalues as accurate as plenoptic's ``1e-7`` aims
    for (``λ_max`` of order one) together with a certificate for the vectors. For bottom
    eigendistortions, whose gaps are often small, use ``1e-6`` in float32 or ``1e-8`` and below in
    float64. float32 cannot certify much below ``1e-6`` (a smaller ``stop_criterion`` ends with
    ``MAX_ITER``), and eigenvalues far below ``λ_max`` carry an absolute rounding error of about
    ``1e-7 λ_max`` in float32.

    *lanczos.* Each step adds one vector ``q`` to an orthonormal basis (classical Gram-Schmidt,
    twice), stores ``F q`` and the new column of ``QᵀFQ``, and computes the top and bottom Ritz pairs
    with their explicit residuals ``‖(FQ)s - θ Qs‖``. When the basis holds ``krylov_size`` vectors it
    is restarted from the extreme Ritz vectors (``k + (m - 2k) // 4`` at each end), which keeps
    memory fixed. If the Krylov space becomes invariant, the basis continues with a random vector.
    Degenerate eigenvalues are found one vector at a time; with ``k > 1`` and clustered eigenvalues
    expect more iterations.

    *power.* As plenoptic: orthogonal iteration on ``F`` for the top block, then on ``F - λ_max I``
    for the bottom block from a fresh random start; a Rayleigh-Ritz rotation within the block gives
    the pairs. The top phase ends when its residuals are below the tolerance. Convergence is linear
    in ``λ_{k+1} / λ_k`` (top) and ``(λ_max - λ_{n-k}) / (λ_max - λ_{n-k+1})`` (bottom), often slow.

    *exact.* The dense ``F`` is formed column by column from ``n`` Fisher products (``JᵀJ`` of the
    dense Jacobian, without storing the ``m x n`` Jacobian) and fully diagonalised by ``eigh`` in the
    first step (it never needs a second). ``state.spectrum`` holds all ``n`` eigenvalues; with
    ``k = n // 2`` the eigendistortions are the full eigenbasis (plenoptic's ``exact`` returns all of
    them).

    Bottom eigendistortions are ill-posed when ``F`` is (nearly) singular, e.g. for models with
    fewer outputs than pixels or low-pass models: any vector of the (near) null space is then a
    valid answer, and its residual says so. When the bottom of the spectrum is a dense cluster (a
    Gaussian blur's high frequencies: hundreds of eigenvalues between 0 and ``1e-5 λ_max``) the
    default ``1e-4`` is reached in a few hundred steps, but a much tighter tolerance may need a
    larger ``krylov_size`` and thousands of steps: the gaps are tiny, and no Krylov method (nor a
    shifted operator, which spans the same Krylov space) resolves them faster.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 96:112, 96:112]
    >>> eig = jo.Eigendistortion(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> state, history = jo.synthesize(eig, eig.init(key=jax.random.key(0)), max_iter=500,
    ...                                progress=False)
    >>> jo.Status(int(state.status)).name
    'CONVERGED'
    >>> state.eigendistortions.shape, state.eigenindex.tolist()
    ((2, 1, 16, 16), [0, 255])
    >>> bool(state.residuals.max() <= 1e-4)
    True
    """

    image: Float[Array, "C H W"]
    model: Callable
    linear: PyTree  # v -> J v at ``image`` (a closure-converted jax.linearize)
    k: int = eqx.field(static=True)
    method: str = eqx.field(static=True)
    krylov_size: int = eqx.field(static=True)

    #: ``stop_criterion`` that :func:`jaxoptic.synthesize` uses when given none: the relative
    #: residual tolerance 1e-4 (see Notes for how it compares with plenoptic's 1e-7).
    default_stop_criterion: ClassVar[float] = DEFAULT_TOLERANCE

    # Identity hash and equality, so that bound methods can be given to jax.jit (as Metamer).
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __init__(
        self,
        image: Float[Array, "C H W"],
        model: Callable,
        k: int = 1,
        method: str = "lanczos",
        *,
        krylov_size: int | None = None,
    ):
        check_finite_image(image, "image")
        if not callable(model):
            raise TypeError(
                f"`model` must be callable (image -> representation), got {type(model).__name__}."
            )
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
        n = int(np.prod(np.shape(image)))
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"`k` must be an int, got {k!r}.")
        if not 1 <= k <= n // 2:
            raise ValueError(
                f"`k` must be between 1 and image.size // 2 = {n // 2} (the top k and bottom k "
                f"eigendistortions of an image with {n} pixels are 2k distinct vectors), got {k}."
            )
        if method == "exact" and n > EXACT_MAX_SIZE:
            raise ValueError(
                f'`method="exact"` forms the dense {n} x {n} Fisher matrix; it accepts images of at most '
                f'{EXACT_MAX_SIZE} pixels (channels * height * width). Use method="lanczos".'
            )
        if krylov_size is None:
            m = min(n, max(32, 8 * int(k)))
        else:
            if isinstance(krylov_size, (bool, np.bool_)) or not isinstance(
                krylov_size, (int, np.integer)
            ):
                raise ValueError(f"`krylov_size` must be an int, got {krylov_size!r}.")
            m = int(krylov_size)
            if not (2 * k + 1 <= m <= n or m == n):
                raise ValueError(
                    f"`krylov_size` must be between 2 * k + 1 = {2 * k + 1} and the image size {n} "
                    f"(or equal to it), got {m}."
                )
        self.image = jnp.asarray(image)
        self.model = model
        self.k = int(k)
        self.method = method
        self.krylov_size = m if method == "lanczos" else 0
        # a fixed random direction: J probe = 0 means J = 0 (almost surely)
        probe = np.random.default_rng(0).standard_normal(n).astype(self.image.dtype)
        y, self.linear, jv = _linearize(model, self.image, probe)
        if not jnp.issubdtype(y.dtype, jnp.inexact):
            dtypes = sorted(
                {str(leaf.dtype) for leaf in jax.tree.leaves(jax.eval_shape(model, image))}
            )
            raise TypeError(
                f"Eigendistortion needs a model with a float output, but the model returns dtype "
                f"{', '.join(dtypes)} for a {self.image.dtype} image: an integer or boolean output has no "
                "gradient with respect to the image, so there is no Fisher matrix to analyse. Make "
                "the model return a continuous (float) quantity instead of argmax, comparisons, "
                "rounding or integer casts (jaxoptic.models.validate_model checks a model)."
            )
        if not isinstance(self.image, jax.core.Tracer):
            _check_jacobian(y, jv)

    # -- the Fisher operator ----------------------------------------------------------------------
    @property
    def _n(self) -> int:
        return int(np.prod(self.image.shape))

    def _fisher(self, v):
        """``F v = Jᵀ(J v)`` for a flat vector ``v`` (n,)."""
        jv = self.linear(v)
        (out,) = jax.linear_transpose(self.linear, v)(jv)
        return out.astype(v.dtype)

    def fisher_vector_product(self, v: Float[Array, "C H W"]) -> Float[Array, "C H W"]:
        """``JᵀJ v`` for an image-shaped ``v``: the Fisher matrix at ``image`` applied to ``v``.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> img = jo.data.camera()[:, :8, :8]
        >>> eig = jo.Eigendistortion(img, jo.models.Identity(), method="exact")
        >>> bool(jnp.allclose(eig.fisher_vector_product(img), img))
        True
        """
        return self._fisher(jnp.asarray(v, self.image.dtype).reshape(-1)).reshape(self.image.shape)

    @property
    def _keep(self) -> int:
        """Ritz vectors kept at each end of the spectrum at a Lanczos restart."""
        return self.k + (self.krylov_size - 2 * self.k) // 4

    # -- init / step / terminate ------------------------------------------------------------------
    def init(self, *, key=None) -> EigendistortionState:
        """Initial state: a random unit start vector (``"lanczos"``) or block (``"power"``) from
        ``key``; ``"exact"`` needs no key.

        Parameters
        ----------
        key
            A ``jax.random.key``. Required for ``"lanczos"`` and ``"power"``.
        """
        if key is None:
            if self.method != "exact":
                raise ValueError(
                    f'Give `key=jax.random.key(seed)` for the random start of method="{self.method}".'
                )
            key = jax.random.key(0)
        if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape[-1:] == (2,):
            key = jax.random.wrap_key_data(key)  # a raw jax.random.PRNGKey
        if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
            raise TypeError(
                "`key` must be a PRNG key from jax.random.key(seed), "
                f"got {type(key).__name__} {getattr(key, 'dtype', '')}."
            )
        dtype = self.image.dtype
        n, k, m = self._n, self.k, self.krylov_size
        basis = jnp.zeros((m + 1 if m else 0, n), dtype)
        block = spare = jnp.zeros((0, n), dtype)
        if self.method == "lanczos":
            start, spare = _start_vectors(key, n, 1, dtype)
            basis = jnp.concatenate([start, basis[1:]])
        elif self.method == "power":
            block, spare = _start_vectors(key, n, k, dtype)
        state = EigendistortionState(
            image=self.image,
            eigenvalues=jnp.full((2 * k,), jnp.nan, dtype),
            eigendistortions=jnp.zeros((2 * k, *self.image.shape), dtype),
            residuals=jnp.full((2 * k,), jnp.inf, dtype),
            iteration=jnp.asarray(0, jnp.int32),
            loss=jnp.asarray(jnp.inf, dtype),
            status=status_array(Status.RUNNING),
            tolerance=jnp.asarray(DEFAULT_TOLERANCE, dtype),
            spare=spare,
            basis=basis,
            products=jnp.zeros((m, n), dtype),
            projection=jnp.zeros((m, m), dtype),
            basis_size=jnp.asarray(0, jnp.int32),
            has_next=jnp.asarray(self.method == "lanczos"),
            block=block,
            phase=jnp.asarray(0, jnp.int32),
            shift=jnp.asarray(0, dtype),
            spectrum=jnp.zeros((n if self.method == "exact" else 0,), dtype),
        )
        return strong_types(state)

    def step(self, state: EigendistortionState) -> EigendistortionState:
        """One iteration (pure, jittable): one Lanczos vector, one power step, or (``"exact"``) the
        whole dense eigendecomposition. A step whose products are not finite changes nothing but the
        status (``NONFINITE``)."""
        if self.method == "lanczos":
            return self._lanczos_step(state)
        if self.method == "power":
            return self._power_step(state)
        return self._exact_step(state)

    def terminate(self, state: EigendistortionState, stop_criterion) -> tuple[Array, Array]:
        """``(done, status)``: done when every requested pair's relative residual is at most
        ``stop_criterion`` (``"exact"``: after its one step), or when the status is no longer
        RUNNING."""
        certified = jnp.all(state.residuals <= stop_criterion)
        if self.method == "exact":
            converged = state.iteration >= 1
        elif self.method == "power":
            converged = certified & (state.phase == 1)
        else:
            # an exhausted basis spans the whole space: the Ritz pairs are exact
            exhausted = ~state.has_next & (state.basis_size >= 2 * self.k)
            converged = certified | exhausted
        return converged_status(state.status, converged)

    def prepare(
        self,
        state: EigendistortionState,
        *,
        stop_iters_to_check: int,
        stop_criterion: float,
        **options,
    ) -> EigendistortionState:
        """Host-side, before a :func:`jaxoptic.synthesize` call: store ``stop_criterion`` as the
        residual tolerance and restart a state that ended by budget or convergence
        (``stop_iters_to_check`` is not used)."""
        refuse_options(self, options)
        del stop_iters_to_check
        tol = jnp.full(state.tolerance.shape, stop_criterion, state.tolerance.dtype)
        state = eqx.tree_at(lambda s: s.tolerance, state, tol)
        status = state.status
        restart = status == int(Status.MAX_ITER)
        if self.method != "exact":
            restart = restart | (status == int(Status.CONVERGED))
        return eqx.tree_at(
            lambda s: s.status,
            state,
            jnp.where(restart, status_array(Status.RUNNING), status),
        )

    def records(self, state: EigendistortionState) -> dict[str, Array]:
        """Per-iteration quantities for the history: ``losses`` (the largest relative residual) and
        the top and bottom eigenvalue estimates."""
        return {
            "losses": state.loss,
            "top_eigenvalue": state.eigenvalues[0],
            "bottom_eigenvalue": state.eigenvalues[-1],
        }

    # -- lanczos ----------------------------------------------------------------------------------
    def _lanczos_step(self, st: EigendistortionState) -> EigendistortionState:
        dtype = st.image.dtype
        n, k, m = self._n, self.k, self.krylov_size
        sqrt_eps = float(np.sqrt(np.finfo(dtype).eps))  # a Python float: branches close over it
        Q, W, H, j = st.basis, st.products, st.projection, st.basis_size
        Qa = Q[:m]  # rows > j are zero; row j is the vector this step expands with

        w = self._fisher(Q[j])
        h = Qa @ w
        W = W.at[j].set(w)
        H = H.at[:, j].set(h).at[j, :].set(h)
        j1 = j + 1
        # classical Gram-Schmidt, twice
        r = w - h @ Qa
        r = r - (Qa @ r) @ Qa
        beta = _norms(r)
        anorm = jnp.maximum(_norms(w), jnp.max(jnp.abs(H)))
        breakdown = beta <= sqrt_eps * anorm

        def fresh(ops):
            basis, spare, salt = ops
            v = jnp.roll(spare[0], salt)  # cyclic shifts of a Gaussian vector: a.s. a full basis
            v = v - (basis @ v) @ basis
            v = v - (basis @ v) @ basis
            nv = _norms(v)
            ok = nv > sqrt_eps
            return v / jnp.where(ok, nv, 1), ok

        def no_fresh(ops):
            return jnp.zeros((n,), dtype), jnp.asarray(False)

        q_rand, fresh_ok = _batched_cond(
            breakdown, fresh, no_fresh, (Qa, st.spare, st.iteration + 1)
        )
        q_next = jnp.where(breakdown, q_rand, r / jnp.where(breakdown, 1, beta))
        has_next = jnp.where(breakdown, fresh_ok, True)
        q_next = jnp.where(has_next, q_next, 0)
        Q = Q.at[j1].set(q_next)

        # Rayleigh-Ritz on the j1 basis vectors that have products
        active = jnp.arange(m) < j1
        sentinel = -2 * jnp.max(jnp.abs(H)) - jnp.finfo(dtype).tiny
        theta, S = jnp.linalg.eigh(H + jnp.diag(jnp.where(active, 0, sentinel).astype(dtype)))
        S = S * active[:, None]  # exact zeros outside the active block
        lo = m - j1  # eigh sorts ascending: the active Ritz values are the last j1
        idx = jnp.concatenate([m - 1 - jnp.arange(k), lo + k - 1 - jnp.arange(k)])
        idx = jnp.clip(idx, lo, m - 1)
        Ssel = S[:, idx]
        y, fy = _normalize_rows(Ssel.T @ Qa, Ssel.T @ W)
        y, fy = _fix_sign(y, fy)
        lam = theta[idx]
        res = _relative_residuals(y, fy, lam, theta[m - 1])
        res = jnp.where(j1 >= 2 * k, res, jnp.inf)

        # thick restart from the extreme Ritz vectors when the basis is full
        p = self._keep

        def restart(ops):
            Q, W, H, size, S, theta = ops
            keep = jnp.concatenate([m - 1 - jnp.arange(p), p - 1 - jnp.arange(p)])
            Sk = S[:, keep]
            Qn = jnp.zeros_like(Q).at[: 2 * p].set(Sk.T @ Q[:m]).at[2 * p].set(Q[m])
            Wn = jnp.zeros_like(W).at[: 2 * p].set(Sk.T @ W)
            Hn = jnp.zeros_like(H).at[jnp.arange(2 * p), jnp.arange(2 * p)].set(theta[keep])
            return Qn, Wn, Hn, jnp.asarray(2 * p, size.dtype)

        def keep_basis(ops):
            return ops[:4]

        Q, W, H, j1 = _batched_cond(
            (j1 == m) & has_next, restart, keep_basis, (Q, W, H, j1, S, theta)
        )

        loss = jnp.max(res)
        finite = jnp.all(jnp.isfinite(w)) & jnp.all(jnp.isfinite(lam)) & ~jnp.isnan(loss)
        new = eqx.tree_at(
            lambda s: (
                s.eigenvalues,
                s.eigendistortions,
                s.residuals,
                s.loss,
                s.basis,
                s.products,
                s.projection,
                s.basis_size,
                s.has_next,
            ),
            st,
            (lam, y.reshape(st.eigendistortions.shape), res, loss, Q, W, H, j1, has_next),
        )
        # a spent basis (it spans the whole space) has nothing left to add
        return _commit(new, st, finite, keep=finite & st.has_next)

    # -- power ------------------------------------------------------------------------------------
    def _power_step(self, st: EigendistortionState) -> EigendistortionState:
        dtype = st.image.dtype
        n, k = self._n, self.k
        V = st.block
        FV = jax.vmap(self._fisher)(V)
        G = V @ FV.T
        theta, S = jnp.linalg.eigh((G + G.T) / 2)
        theta, S = theta[::-1], S[:, ::-1]  # descending
        y, fy = _normalize_rows(S.T @ V, S.T @ FV)
        y, fy = _fix_sign(y, fy)
        top = st.phase == 0
        lam_max = jnp.where(top, theta[0], st.eigenvalues[0])
        res = _relative_residuals(y, fy, theta, lam_max)

        pos = jnp.where(top, 0, k)
        eigenvalues = jax.lax.dynamic_update_slice(st.eigenvalues, theta, (pos,))
        residuals = jax.lax.dynamic_update_slice(st.residuals, res, (pos,))
        vectors = jax.lax.dynamic_update_slice(
            st.eigendistortions.reshape(2 * k, n), y, (pos, 0)
        ).reshape(st.eigendistortions.shape)

        # next block: orthonormalised (F - shift I) V, as plenoptic
        shift = jnp.where(top, 0, st.shift).astype(dtype)
        V_next = jnp.linalg.qr((FV - shift * V).T)[0].T
        # top certified: start the bottom phase from a fresh random block, shifted by λ_max
        switch = top & jnp.all(res <= st.tolerance)
        V_next = jnp.where(switch, st.spare, V_next)
        phase = jnp.where(switch, 1, st.phase).astype(jnp.int32)
        shift = jnp.where(switch, theta[0], st.shift).astype(dtype)
        loss = jnp.where(top, jnp.max(res), jnp.max(residuals))

        finite = jnp.all(jnp.isfinite(FV)) & jnp.all(jnp.isfinite(theta)) & ~jnp.any(jnp.isnan(res))
        new = eqx.tree_at(
            lambda s: (
                s.eigenvalues,
                s.eigendistortions,
                s.residuals,
                s.loss,
                s.block,
                s.phase,
                s.shift,
            ),
            st,
            (eigenvalues, vectors, residuals, loss, V_next, phase, shift),
        )
        return _commit(new, st, finite)

    # -- exact ------------------------------------------------------------------------------------
    def _exact_step(self, st: EigendistortionState) -> EigendistortionState:
        dtype = st.image.dtype
        n, k = self._n, self.k
        columns = jax.lax.map(
            lambda i: self._fisher(jax.nn.one_hot(i, n, dtype=dtype)),
            jnp.arange(n),
            batch_size=min(n, _EXACT_CHUNK),
        )
        F = (columns + columns.T) / 2
        theta, V = jnp.linalg.eigh(F)
        theta, V = theta[::-1], V[:, ::-1]  # descending
        idx = jnp.concatenate([jnp.arange(k), n - k + jnp.arange(k)])
        y = V[:, idx].T
        y, fy = _fix_sign(y, y @ F)
        lam = theta[idx]
        res = _relative_residuals(y, fy, lam, theta[0])
        finite = jnp.all(jnp.isfinite(F)) & jnp.all(jnp.isfinite(theta)) & ~jnp.any(jnp.isnan(res))
        new = eqx.tree_at(
            lambda s: (s.eigenvalues, s.eigendistortions, s.residuals, s.loss, s.spectrum),
            st,
            (lam, y.reshape(st.eigendistortions.shape), res, jnp.max(res), theta),
        )
        return _commit(new, st, finite)
