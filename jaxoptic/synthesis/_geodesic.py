"""Geodesic synthesis: the image path between two images whose representation path energy is minimal.

This reproduces ``Geodesic`` of plenoptic 1.2 (Hénaff & Simoncelli, ICLR 2016; removed from plenoptic
in 1.3): the interior frames of a sequence from ``image_a`` to ``image_b`` are optimised so that the
model representation moves in small, even steps, with a quadratic penalty on pixels outside
``allowed_range``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jaxtyping import Array, Float, Int, PyTree

from .. import optimizers as _optimizers
from .. import penalties as _penalties
from .._validation import check_image, check_same_shape, check_scalar, check_window
from ._common import (
    DEFAULT_WINDOW,
    check_optimizer,
    converged_status,
    guarded_update,
    learning_rate_of,
    prepare_window_and_status,
    refuse_options,
    status_array,
    strong_types,
    uses_linesearch,
    window_push,
)
from ._status import Status
from ._straightness import deviation_from_line, make_straight_line, sample_brownian_bridge

__all__ = ["Geodesic", "GeodesicState"]

INITIAL_SEQUENCES = ("straight", "bridge")
GOLDEN_RATIO = (1 + 5**0.5) / 2


# -- the default optimizer: torch.optim.Adam(amsgrad=True) -----------------------------------------
@functools.cache
def _default_optimizer() -> optax.GradientTransformationExtraArgs:
    """The default optimizer, built once: every default Geodesic shares it (and the compiled loop)."""
    return check_optimizer(_optimizers.amsgrad(0.001))


# -- helpers -------------------------------------------------------------------------------------------
@eqx.filter_jit
def _endpoints(model, image_a, image_b, n_steps: int):
    """The endpoint representations, the norm of the pixelfade, and facts for the input checks."""
    rep_a = model(image_a)
    rep_b = model(image_b)
    pixelfade = make_straight_line(image_a, image_b, n_steps)
    leaves = jax.tree.leaves((rep_a, rep_b))
    facts = {
        "finite_a": jnp.all(jnp.isfinite(image_a)),
        "finite_b": jnp.all(jnp.isfinite(image_b)),
        "min_a": jnp.min(image_a),
        "max_a": jnp.max(image_a),
        "min_b": jnp.min(image_b),
        "max_b": jnp.max(image_b),
        "finite_representations": jnp.all(
            jnp.asarray([jnp.all(jnp.isfinite(leaf)) for leaf in leaves] or [True])
        ),
    }
    return rep_a, rep_b, jnp.sqrt(jnp.sum(pixelfade**2)), facts


def _check_number(value, name: str) -> None:
    check_scalar(value, name, minimum=0.0)


def _step_energy(rep: Array) -> Array:
    """Squared norm of each step of a representation path ``(T, K, ...)`` -> ``(T - 1, K)``."""
    velocity = jnp.diff(rep, axis=0)
    return jnp.sum(velocity**2, axis=tuple(range(2, velocity.ndim)))


def _frame_norm(x: Array, keepdims: bool = False) -> Array:
    """L2 norm of every frame of ``(T, ...)``."""
    return jnp.sqrt(jnp.sum(x**2, axis=tuple(range(1, x.ndim)), keepdims=keepdims))


class GeodesicState(eqx.Module):
    """Everything that changes during geodesic synthesis (a pytree of arrays; checkpoint it, vmap it).

    Attributes
    ----------
    image
        The whole current sequence ``(n_steps + 1, C, H, W)``, from ``image_a`` to ``image_b``
        (plenoptic's ``geodesic``). Only its interior frames ``image[1:-1]`` are optimised; this is
        what ``store_progress`` saves.
    opt_state
        The optax optimizer state (of the interior frames).
    iteration
        Number of steps taken (0-d int32).
    loss, penalty, path_energy, max_dist_from_line, gradient_norm, pixel_change_norm, learning_rate
        Records of the last step, at the sequence *before* the step: the objective, the range
        penalty, the path energy (mean step energy), the largest distance of a frame's
        representation from the straight line between the end representations (in units of their
        distance), the norm of the gradient, the norm of the pixel change the step made, and the
        optimizer's learning rate (NaN if not exposed). After ``init`` they describe the initial
        sequence (gradient and pixel change NaN).
    pixel_change_window
        Ring buffer of the most recent pixel-change norms, used by the stopping rule.
    status
        A :class:`jaxoptic.Status` as 0-d int32.
    previous_image
        The sequence before the last step (the state falls back to it if the objective becomes
        non-finite).
    """

    image: Float[Array, "T C H W"]
    opt_state: PyTree
    iteration: Int[Array, ""]
    loss: Float[Array, ""]
    penalty: Float[Array, ""]
    path_energy: Float[Array, ""]
    max_dist_from_line: Float[Array, ""]
    gradient_norm: Float[Array, ""]
    pixel_change_norm: Float[Array, ""]
    learning_rate: Float[Array, ""]
    pixel_change_window: Float[Array, " n"]
    status: Int[Array, ""]
    previous_image: Float[Array, "T C H W"]


class Geodesic(eqx.Module):
    """An approximate geodesic between two images under a model (Hénaff & Simoncelli, ICLR 2016).

    The sequence ``g_0 = image_a, g_1, ..., g_n = image_b`` (``n = n_steps``) minimises

    ``mean_t,k ||model(g_{t+1})_k - model(g_t)_k||^2 + range_penalty_lambda * range_penalty(g)``

    over its interior frames (the endpoints stay fixed), where ``k`` runs over the first axis (the
    channels) of the model's representation and the squared norm is over its other axes. The path
    energy has the same minimiser as the path length, reached at constant speed. This is plenoptic
    1.2's ``Geodesic`` (objective, default Adam with AMSGrad at learning rate 0.001, stopping rule).

    The module holds configuration only; a :class:`GeodesicState` made by :meth:`init` holds the
    sequence and the optimizer state, advanced by the pure :meth:`step`. Run many steps with
    :func:`jaxoptic.synthesize`; the history records ``losses``, ``penalties``, ``path_energy``,
    ``max_dist_from_line``, ``gradient_norm``, ``pixel_change_norm`` and ``learning_rate``.

    Parameters
    ----------
    image_a, image_b
        The two endpoint images ``(C, H, W)``: same shape and dtype, finite, within
        ``allowed_range``.
    model
        Callable ``image -> representation``, one array whose first axis is taken as channels (e.g.
        a :mod:`jaxoptic.models` module). It is applied to every frame separately.
    n_steps
        Number of transitions (>= 2); the sequence has ``n_steps + 1`` frames.
    initial_sequence
        Default start of :meth:`init`: ``"straight"`` (the pixel-space line, "pixelfade") or
        ``"bridge"`` (a Brownian bridge between the endpoints, drawn from ``init``'s ``key``).
    range_penalty_lambda
        Non-negative weight of the range penalty (default 0.1).
    allowed_range
        ``(low, high)`` of the range penalty (default ``(0, 1)``).
    optimizer
        Any optax ``GradientTransformation``. Default: Adam with AMSGrad as PyTorch computes it,
        learning rate 0.001 (plenoptic's default; ``optax.amsgrad`` differs slightly).
    stop_criterion
        Pixel-change threshold of the stopping rule when :func:`jaxoptic.synthesize` is called
        with ``stop_criterion=None`` (its default). ``None`` (default) uses plenoptic's choice,
        ``||pixelfade||_2 / 1e4 * golden ratio``. See :meth:`terminate`.

    Raises
    ------
    ValueError
        If the images are not ``(C, H, W)``, differ in shape, contain NaN/Inf or lie outside
        ``allowed_range``; for an unknown ``initial_sequence``, ``n_steps < 2``, a negative
        ``range_penalty_lambda`` or ``stop_criterion``, or a non-finite representation.
    TypeError
        For a non-callable model, a model that does not return one float array, or an optimizer
        that is not an optax transformation.

    Notes
    -----
    Differences from plenoptic 1.2, all deliberate: the range penalty of :meth:`objective` is taken
    on the sequence given to it (plenoptic always used its current geodesic); the per-iteration
    ``step_energy`` and ``dev_from_line`` are computed from the saved sequences
    (:meth:`saved_progress`), so entry ``i`` describes the sequence at iteration ``i`` (plenoptic's
    stored values were those of iteration ``i - 1``, cached from the previous objective call, except
    at iteration 0); :meth:`calculate_jerkiness` works for representations of any number of axes.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> geo = jo.Geodesic(img, img[:, ::-1], jo.models.Gaussian((5, 5), std=1.0), n_steps=4)
    >>> state = geo.init(initial_sequence="bridge", key=jax.random.key(0))
    >>> state, history = jo.synthesize(geo, state, max_iter=5, progress=False)
    >>> state.image.shape, history.path_energy.shape
    ((5, 1, 16, 16), (5,))
    >>> bool(history.path_energy[-1] < history.path_energy[0])
    True
    """

    image_a: Float[Array, "C H W"]
    image_b: Float[Array, "C H W"]
    model: Callable
    representation_a: Array
    representation_b: Array
    range_penalty_lambda: Float[Array, ""]
    stop_criterion: Float[Array, ""]
    n_steps: int = eqx.field(static=True)
    initial_sequence: str = eqx.field(static=True)
    allowed_range: tuple[float, float] = eqx.field(static=True)
    optimizer: optax.GradientTransformationExtraArgs = eqx.field(static=True)

    # Identity hash and equality, so that bound methods can be given to jax.jit.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __init__(
        self,
        image_a,
        image_b,
        model: Callable,
        n_steps: int = 10,
        initial_sequence: Literal["straight", "bridge"] = "straight",
        range_penalty_lambda: float = 0.1,
        allowed_range: tuple[float, float] = (0.0, 1.0),
        optimizer: optax.GradientTransformation | None = None,
        stop_criterion: float | None = None,
    ):
        check_image(image_a, "image_a")
        check_image(image_b, "image_b")
        check_same_shape(image_a, image_b, ("image_a", "image_b"))
        if initial_sequence not in INITIAL_SEQUENCES:
            raise ValueError(
                f"`initial_sequence` must be 'straight' or 'bridge', got {initial_sequence!r}."
            )
        if (
            isinstance(n_steps, (bool, np.bool_))
            or not isinstance(n_steps, (int, np.integer))
            or n_steps < 2
        ):
            raise ValueError(
                f"`n_steps` must be an int >= 2 (the geodesic needs interior frames), got {n_steps!r}."
            )
        try:
            lo, hi = (float(v) for v in allowed_range)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"`allowed_range` must be (low, high), got {allowed_range!r}."
            ) from err
        if not lo < hi:
            raise ValueError(
                f"`allowed_range` must be (low, high) with low < high, got {allowed_range!r}."
            )
        _check_number(range_penalty_lambda, "range_penalty_lambda")
        if stop_criterion is not None:
            _check_number(stop_criterion, "stop_criterion")
        if not callable(model):
            raise TypeError(
                f"`model` must be callable (image -> representation), got {type(model).__name__}."
            )
        self.optimizer = _default_optimizer() if optimizer is None else check_optimizer(optimizer)
        self.image_a = jnp.asarray(image_a)
        self.image_b = jnp.asarray(image_b)
        dtype = self.image_a.dtype
        self.model = model
        self.n_steps = int(n_steps)
        self.initial_sequence = initial_sequence
        self.allowed_range = (lo, hi)
        self.range_penalty_lambda = jnp.asarray(range_penalty_lambda, dtype)
        # one compiled call for the endpoint representations, the checks and the default threshold
        rep_a, rep_b, pixelfade_norm, facts = _endpoints(
            model, self.image_a, self.image_b, self.n_steps
        )
        if not isinstance(facts["finite_a"], jax.core.Tracer):
            for name in ("image_a", "image_b"):
                letter = name[-1]
                if not bool(facts[f"finite_{letter}"]):
                    raise ValueError(
                        f"`{name}` contains NaN or Inf values; synthesis needs a finite image."
                    )
                span = float(facts[f"min_{letter}"]), float(facts[f"max_{letter}"])
                if span[0] < lo or span[1] > hi:
                    raise ValueError(
                        f"`{name}` must lie within allowed_range={(lo, hi)}, but its values span "
                        f"[{span[0]:.4g}, {span[1]:.4g}]. Rescale the image or widen `allowed_range`."
                    )
        if not (
            isinstance(rep_a, jax.Array)
            and rep_a.ndim >= 1
            and jnp.issubdtype(rep_a.dtype, jnp.floating)
        ):
            raise TypeError(
                "Geodesic needs a model that returns one float array with at least one axis (its first "
                f"axis is taken as channels); got {jax.tree.map(lambda x: getattr(x, 'shape', x), rep_a)}."
            )
        if not isinstance(facts["finite_representations"], jax.core.Tracer) and not bool(
            facts["finite_representations"]
        ):
            raise ValueError(
                "The model's representation of `image_a` or `image_b` contains NaN or Inf; check the "
                "model and the images."
            )
        self.representation_a = rep_a
        self.representation_b = rep_b
        if stop_criterion is None:
            stop_criterion = pixelfade_norm / 1e4 * GOLDEN_RATIO
        self.stop_criterion = jnp.asarray(stop_criterion, dtype)

    # -- sequences ---------------------------------------------------------------------------------
    @property
    def pixelfade(self) -> Float[Array, "T C H W"]:
        """The pixel-space straight line from ``image_a`` to ``image_b`` (``n_steps + 1`` frames)."""
        return make_straight_line(self.image_a, self.image_b, self.n_steps)

    def _sequence(self, sequence) -> Array:
        """Accept a :class:`GeodesicState` or an array ``(T, C, H, W)``."""
        if isinstance(sequence, GeodesicState):
            sequence = sequence.image
        sequence = jnp.asarray(sequence)
        if sequence.ndim != 4 or sequence.shape[1:] != self.image_a.shape or sequence.shape[0] < 2:
            raise ValueError(
                f"Expected a sequence of frames (T, *{tuple(self.image_a.shape)}) with T >= 2 (or a "
                f"GeodesicState), got shape {tuple(sequence.shape)}."
            )
        return sequence

    def _full(self, interior) -> Array:
        return jnp.concatenate([self.image_a[None], interior, self.image_b[None]])

    # -- quantities of a sequence ---------------------------------------------------------------------
    def representation(self, sequence) -> Array:
        """``model`` applied to every frame of ``sequence`` (or of ``state.image``): ``(T, ...)``."""
        return jax.vmap(self.model)(self._sequence(sequence))

    def step_energy(self, sequence) -> Float[Array, "T-1 K"]:
        """Squared L2 norm of each step of the representation path, per representation channel.

        Returns ``(T - 1, K)`` where ``K`` is the size of the representation's first axis
        (plenoptic's ``_calculate_step_energy``).
        """
        return _step_energy(self.representation(sequence))

    def path_energy(self, sequence) -> Float[Array, ""]:
        """The mean of :meth:`step_energy`: the objective without the range penalty."""
        return jnp.mean(self.step_energy(sequence))

    def objective(self, sequence) -> Float[Array, ""]:
        """``path_energy + range_penalty_lambda * range_penalty`` of ``sequence`` (all its frames)."""
        seq = self._sequence(sequence)
        penalty = _penalties.range_penalty(seq, self.allowed_range)
        return self.path_energy(seq) + self.range_penalty_lambda * penalty

    def deviation_from_line(self, sequence, normalize: bool = True) -> tuple[Array, Array]:
        """:func:`jaxoptic.synthesis.deviation_from_line` of the representation of ``sequence``.

        Returns ``(dist_along_line, dist_from_line)``, each ``(T,)``: the two coordinates of every
        frame's representation relative to the line through the end representations.
        """
        return deviation_from_line(self.representation(sequence), normalize)

    def calculate_jerkiness(self, sequence) -> Float[Array, " T-2"]:
        """First-order optimality check of a geodesic (plenoptic's ``calculate_jerkiness``).

        With ``a_t`` the acceleration of the representation path at interior frame ``t`` and ``J_t``
        the model's Jacobian there, returns ``||J_t^T (a_t / ||a_t||)||^2`` for ``t = 1 .. T-2``: how
        much of the path's bending the pixels could still undo. NaN where ``a_t = 0``.
        """
        seq = self._sequence(sequence)
        rep, vjp = jax.vjp(lambda s: jax.vmap(self.model)(s), seq)
        acceleration = jnp.diff(rep, n=2, axis=0)
        direction = acceleration / _frame_norm(acceleration, keepdims=True)
        cotangent = jnp.zeros_like(rep).at[1:-1].set(direction)
        (pulled,) = vjp(cotangent)
        return _frame_norm(pulled[1:-1]) ** 2

    def saved_progress(self, history) -> dict[str, np.ndarray]:
        """``step_energy`` ``(n_saved, n_steps, K)`` and ``dev_from_line`` ``(n_saved, n_steps + 1, 2)``
        (``[dist_along_line, dist_from_line]``) of the sequences a run saved with ``store_progress``.

        ``history`` is the :class:`jaxoptic.History` of one (unbatched) run; entry ``i`` describes
        ``history.saved_images[i]``, the sequence at iteration ``history.saved_iterations[i]``.
        """
        saved = getattr(history, "saved_images", None)
        if saved is None:
            raise ValueError(
                "This history has no saved sequences; run jaxoptic.synthesize with store_progress=k."
            )
        saved = np.asarray(saved)
        if saved.ndim != 5:
            raise ValueError(
                f"Expected the history of one run, saved_images shaped (n_saved, T, C, H, W); got "
                f"{saved.shape}. For a batch, index one lane of the method and history."
            )
        energy, along, away = _progress(self, jnp.asarray(saved))
        return {
            "step_energy": np.asarray(energy),
            "dev_from_line": np.stack([np.asarray(along), np.asarray(away)], axis=-1),
        }

    # -- the objective of the interior frames, with the endpoint representations cached ----------------
    def _terms(self, interior) -> tuple[Array, tuple[Array, Array, Array]]:
        dtype = interior.dtype
        rep = jnp.concatenate(
            [
                self.representation_a[None],
                jax.vmap(self.model)(interior),
                self.representation_b[None],
            ]
        )
        energy = jnp.mean(_step_energy(rep)).astype(dtype)
        penalty = _penalties.range_penalty(self._full(interior), self.allowed_range).astype(dtype)
        return energy + self.range_penalty_lambda * penalty, (energy, penalty, rep)

    def _value(self, interior) -> Array:
        return self._terms(interior)[0]

    # -- init / step / terminate -----------------------------------------------------------------------
    def init(
        self,
        *,
        key=None,
        initial_sequence=None,
        stop_iters_to_check: int = DEFAULT_WINDOW,
    ) -> GeodesicState:
        """Initial state.

        Parameters
        ----------
        key
            A ``jax.random.key``; needed for the ``"bridge"`` start (a Brownian bridge with
            ``max_norm=1``, as plenoptic).
        initial_sequence
            ``None`` (the method's ``initial_sequence``), ``"straight"``, ``"bridge"``, or a sequence
            ``(n_steps + 1, C, H, W)`` whose interior frames are the start (its first and last
            frames are ignored: the endpoints are ``image_a`` and ``image_b``).
        stop_iters_to_check
            Size of the pixel-change window of the stopping rule (``synthesize`` resizes it).

        Raises
        ------
        ValueError
            For an unknown ``initial_sequence``, a missing ``key`` for ``"bridge"``, or a start
            sequence of the wrong shape or with NaN/Inf.
        """
        dtype = self.image_a.dtype
        if initial_sequence is None:
            initial_sequence = self.initial_sequence
        if isinstance(initial_sequence, str):
            if initial_sequence == "straight":
                seq = make_straight_line(self.image_a, self.image_b, self.n_steps)
            elif initial_sequence == "bridge":
                if key is None:
                    raise ValueError(
                        "initial_sequence='bridge' draws a random path: give `key=jax.random.key(seed)`."
                    )
                seq = sample_brownian_bridge(self.image_a, self.image_b, self.n_steps, key=key)
            else:
                raise ValueError(
                    f"`initial_sequence` must be 'straight', 'bridge' or an array, got {initial_sequence!r}."
                )
        else:
            shape = tuple(np.shape(initial_sequence))
            expected = (self.n_steps + 1, *self.image_a.shape)
            if shape != expected:
                raise ValueError(
                    f"`initial_sequence` must have shape {expected} (n_steps + 1 frames), got {shape}."
                )
            seq = jnp.asarray(initial_sequence)
            if not jnp.issubdtype(seq.dtype, jnp.floating):
                raise TypeError(f"`initial_sequence` must be a float array, got {seq.dtype}.")
            if not isinstance(seq, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(seq))):
                raise ValueError("`initial_sequence` contains NaN or Inf values.")
        return _initial_state(
            self, jnp.asarray(seq[1:-1], dtype), check_window(stop_iters_to_check)
        )

    def step(self, state: GeodesicState) -> GeodesicState:
        """One optimizer step on the interior frames (pure, jittable). A step on a non-finite
        objective changes nothing but the status (``NONFINITE``) and falls back to the previous
        sequence."""
        x = state.image[1:-1]
        dtype = x.dtype
        if uses_linesearch(state.opt_state):
            value = otu.tree_get(state.opt_state, "value")
            grad = otu.tree_get(state.opt_state, "grad")
            _, (energy, penalty, rep) = self._terms(x)
        else:
            (value, (energy, penalty, rep)), grad = jax.value_and_grad(self._terms, has_aux=True)(x)
        value = jnp.asarray(value, dtype).reshape(())
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
        new_x, opt_state = guarded_update(
            self.optimizer,
            grad,
            state.opt_state,
            x,
            value=value,
            value_fn=self._value,
            finite=finite,
        )
        new_image = jnp.where(finite, self._full(new_x), state.previous_image)
        pixel_change = jnp.sqrt(jnp.sum((new_x - x) ** 2)).astype(dtype)
        return GeodesicState(
            image=new_image,
            opt_state=opt_state,
            iteration=state.iteration + finite.astype(jnp.int32),
            loss=value,
            penalty=penalty,
            path_energy=energy,
            max_dist_from_line=jnp.max(deviation_from_line(rep)[1]).astype(dtype),
            gradient_norm=jnp.sqrt(jnp.sum(grad**2)).astype(dtype),
            pixel_change_norm=pixel_change,
            learning_rate=learning_rate_of(opt_state, dtype),
            pixel_change_window=jnp.where(
                finite,
                window_push(state.pixel_change_window, state.iteration, pixel_change),
                state.pixel_change_window,
            ),
            status=jnp.where(finite, state.status, status_array(Status.NONFINITE)),
            previous_image=jnp.where(finite, state.image, state.previous_image),
        )

    @property
    def default_stop_criterion(self) -> Float[Array, ""]:
        """The threshold :func:`jaxoptic.synthesize` uses when given ``stop_criterion=None``."""
        return self.stop_criterion

    def terminate(self, state: GeodesicState, stop_criterion) -> tuple[Array, Array]:
        """``(done, status)``: plenoptic's pixel-change rule. After more than ``n`` steps
        (``n = stop_iters_to_check``), stop when each of the last ``n`` pixel-change norms is below
        the threshold.

        The threshold is ``stop_criterion`` as given to :func:`jaxoptic.synthesize`; when that is
        left at ``None``, the driver uses :attr:`default_stop_criterion` (this geodesic's own
        ``stop_criterion``: plenoptic's data-dependent default, or the value given at construction).
        """
        threshold = jnp.asarray(stop_criterion, state.loss.dtype)
        window = state.pixel_change_window
        converged = (state.iteration > window.shape[0]) & jnp.all(window < threshold)
        return converged_status(state.status, converged)

    def prepare(
        self, state: GeodesicState, *, stop_iters_to_check: int, stop_criterion: float, **options
    ):
        """Host-side, before a :func:`jaxoptic.synthesize` call: size the pixel-change window to
        ``stop_iters_to_check`` and restart a state that ended by budget or convergence."""
        refuse_options(self, options)
        return prepare_window_and_status(state, stop_iters_to_check, field="pixel_change_window")

    def records(self, state: GeodesicState) -> dict[str, Array]:
        """Per-iteration quantities the driver stores in the history (all 0-d arrays)."""
        return {
            "losses": state.loss,
            "penalties": state.penalty,
            "path_energy": state.path_energy,
            "max_dist_from_line": state.max_dist_from_line,
            "gradient_norm": state.gradient_norm,
            "pixel_change_norm": state.pixel_change_norm,
            "learning_rate": state.learning_rate,
        }


@eqx.filter_jit
def _initial_state(method: Geodesic, x0, window: int) -> GeodesicState:
    """The state at the interior frames ``x0`` (compiled once per configuration)."""
    dtype = x0.dtype
    opt_state = method.optimizer.init(x0)
    value, (energy, penalty, rep) = method._terms(x0)
    if uses_linesearch(opt_state):
        grad = jax.grad(method._value)(x0)
        opt_state = otu.tree_set(opt_state, value=value, grad=grad)
    nan = jnp.asarray(jnp.nan, dtype)
    full = method._full(x0)
    return GeodesicState(
        image=full,
        opt_state=strong_types(opt_state),
        iteration=jnp.asarray(0, jnp.int32),
        loss=value,
        penalty=penalty,
        path_energy=energy,
        max_dist_from_line=jnp.max(deviation_from_line(rep)[1]).astype(dtype),
        gradient_norm=nan,
        pixel_change_norm=nan,
        learning_rate=learning_rate_of(opt_state, dtype),
        pixel_change_window=jnp.full((window,), jnp.nan, dtype),
        status=status_array(Status.RUNNING),
        previous_image=full,
    )


@eqx.filter_jit
def _progress(method: Geodesic, sequences):
    def one(seq):
        rep = jax.vmap(method.model)(seq)
        along, away = deviation_from_line(rep)
        return _step_energy(rep), along, away

    return jax.vmap(one)(sequences)
