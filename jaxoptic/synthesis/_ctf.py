"""Coarse-to-fine metamer synthesis, with the scale schedule kept in the state."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax.tree_utils as otu
from jaxtyping import Array, Float, Int

from ._common import (
    DEFAULT_WINDOW,
    converged_status,
    guarded_update,
    learning_rate_of,
    loss_converged,
    prepare_window_and_status,
    refuse_options,
    resize_window,
    status_array,
    window_push,
)
from ._metamer import Metamer, MetamerState
from ._status import Status


class MetamerCTFState(MetamerState):
    """:class:`MetamerState` plus the coarse-to-fine schedule.

    Attributes
    ----------
    stage
        Index into the method's ``scales`` of the scale being optimised (0-d int32).
    scales_timing
        ``(n_stages, 2)`` int32: the iteration at which each stage started and stopped (-1: not yet).
    scales_loss
        The loss of the current stage at the image before the last step.
    scales_window
        Ring buffer of recent stage losses (size ``ctf_iters_to_check``).
    change_scale_criterion
        The current ``change_scale_criterion`` (NaN for None: switch after ``ctf_iters_to_check``
        iterations regardless of the loss).
    """

    stage: Int[Array, ""]
    scales_timing: Int[Array, "n_stages 2"]
    scales_loss: Float[Array, ""]
    scales_window: Float[Array, " n"]
    change_scale_criterion: Float[Array, ""]


def _active_scales(scales: tuple, stage: int, coarse_to_fine: str) -> tuple | None:
    if scales[stage] == "all":
        return None
    if coarse_to_fine == "together":
        return tuple(scales[: stage + 1])
    return (scales[stage],)


class MetamerCTF(Metamer):
    """Coarse-to-fine metamer synthesis (Portilla & Simoncelli 2000), plenoptic's ``MetamerCTF``.

    The model must have a ``scales`` attribute and accept ``model(image, scales=[...])``, like
    :class:`jaxoptic.models.PortillaSimoncelli`. Synthesis first matches the statistics of the
    coarsest scale, then adds finer scales one at a time (``coarse_to_fine="together"``: each stage
    also keeps the finished scales; ``"separate"``: each stage has only its own scale), and finally
    optimises everything (``"all"``). With ``"together"`` the last model scale (the highpass residual
    for Portilla-Simoncelli) is only optimised in the ``"all"`` stage, as in plenoptic.

    A stage ends when its loss changed by less than ``change_scale_criterion`` over
    ``ctf_iters_to_check`` iterations and at least ``ctf_iters_to_check`` iterations were spent on it
    (both are :func:`jaxoptic.synthesize` options). The whole schedule lives in the state (see
    :class:`MetamerCTFState`), so it runs inside the compiled loop, batches and checkpoints.

    When the model has ``representation_scales`` (the scale of each output statistic), the model is
    evaluated once per step and each stage selects its statistics; otherwise each stage calls
    ``model(image, scales=...)`` inside a ``lax.switch``.

    Parameters
    ----------
    image, model, loss_function, penalty_function, penalty_lambda, optimizer
        As :class:`Metamer`.
    coarse_to_fine
        ``"together"`` (default) or ``"separate"``.

    Examples
    --------
    >>> import jax, optax
    >>> import jaxoptic as jo
    >>> img = jo.data.brick()[:, :64, :64]
    >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2, spatial_corr_width=5)
    >>> met = jo.MetamerCTF(img, ps, loss_function=jo.losses.l2_norm, optimizer=optax.adam(0.01))
    >>> met.scales
    ('pixel_statistics', 'residual_lowpass', 1, 0, 'all')
    >>> state, hist = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=12, progress=False,
    ...                             change_scale_criterion=None, ctf_iters_to_check=3)
    >>> met.scales_timing(state)["residual_lowpass"]
    [3, 5]
    """

    scales: tuple = eqx.field(static=True)
    coarse_to_fine: str = eqx.field(static=True)
    stage_indices: tuple | None
    stage_targets: tuple

    # each step evaluates the current stage's objective itself (see `step`)
    _defer_first_evaluation: ClassVar[bool] = False

    def __init__(
        self,
        image,
        model,
        loss_function: Callable | None = None,
        penalty_function: Callable | None = None,
        penalty_lambda: float = 0.1,
        optimizer=None,
        coarse_to_fine: str = "together",
    ):
        kwargs = {}
        if loss_function is not None:
            kwargs["loss_function"] = loss_function
        if penalty_function is not None:
            kwargs["penalty_function"] = penalty_function
        if coarse_to_fine not in ("together", "separate"):
            raise ValueError(
                f"`coarse_to_fine` must be 'together' or 'separate', got {coarse_to_fine!r}."
            )
        model_scales = getattr(model, "scales", None)
        if model_scales is None or len(model_scales) < 2:
            raise ValueError(
                "MetamerCTF needs a model with a `scales` attribute (at least two scales) that accepts "
                "model(image, scales=[...]), such as jaxoptic.models.PortillaSimoncelli; use Metamer otherwise."
            )
        super().__init__(image, model, penalty_lambda=penalty_lambda, optimizer=optimizer, **kwargs)
        scales = list(model_scales[:-1])
        if coarse_to_fine == "separate":
            scales.append(model_scales[-1])
        scales.append("all")
        self.scales = tuple(scales)
        self.coarse_to_fine = coarse_to_fine
        labels = getattr(model, "representation_scales", None)
        actives = [_active_scales(self.scales, s, coarse_to_fine) for s in range(len(self.scales))]
        if labels is not None:
            labels = np.asarray([str(lbl) for lbl in labels])
            self.stage_indices = tuple(
                None
                if act is None
                else jnp.asarray(np.flatnonzero(np.isin(labels, [str(a) for a in act])))
                for act in actives
            )
            self.stage_targets = ()
        else:
            self.stage_indices = None
            fwd = lambda m, x, sc: m(x, scales=list(sc))
            try:
                self.stage_targets = tuple(
                    None if act is None else fwd(model, self.image, act) for act in actives
                )
            except TypeError as err:
                raise ValueError(
                    f"The model does not accept model(image, scales=[...]): {err}"
                ) from err

    # -- stage objectives --------------------------------------------------------------------------
    def _stage_losses(self, image) -> list[Callable[[], Array]]:
        """One thunk per stage computing the stage's representation loss at ``image``."""
        if self.stage_indices is not None:
            rep = self.model(image)

            def make(idx):
                if idx is None:
                    return lambda: self.loss_function(rep, self.target_representation)
                return lambda: self.loss_function(
                    jnp.take(rep, idx, axis=-1), jnp.take(self.target_representation, idx, axis=-1)
                )

            return [make(idx) for idx in self.stage_indices]
        out = []
        for s in range(len(self.scales)):
            act = _active_scales(self.scales, s, self.coarse_to_fine)
            if act is None:
                out.append(
                    lambda: self.loss_function(self.model(image), self.target_representation)
                )
            else:
                target = self.stage_targets[s]
                out.append(
                    lambda act=act, target=target: self.loss_function(
                        self.model(image, scales=list(act)), target
                    )
                )
        return out

    def stage_objective(self, image, stage) -> Float[Array, ""]:
        """The objective of stage ``stage`` (loss on the stage's scales plus the weighted penalty)."""
        thunks = self._stage_losses(image)
        loss = jax.lax.switch(
            stage, [lambda t=t: jnp.asarray(t(), image.dtype).reshape(()) for t in thunks]
        )
        return loss + self.penalty_lambda * jnp.asarray(
            self.penalty_function(image), image.dtype
        ).reshape(())

    # -- init / prepare / step / terminate ---------------------------------------------------------
    def init(
        self, *, key=None, initial_image=None, stop_iters_to_check: int = DEFAULT_WINDOW
    ) -> MetamerCTFState:
        """Initial state (see :meth:`Metamer.init`), at the first (coarsest) stage."""
        base = super().init(
            key=key, initial_image=initial_image, stop_iters_to_check=stop_iters_to_check
        )
        dtype = self.image.dtype
        timing = np.full((len(self.scales), 2), -1, np.int32)
        timing[0, 0] = 0
        fields = {f: getattr(base, f) for f in MetamerState.__dataclass_fields__}
        return MetamerCTFState(
            **fields,
            stage=jnp.asarray(0, jnp.int32),
            scales_timing=jnp.asarray(timing),
            scales_loss=jnp.asarray(jnp.nan, dtype),
            scales_window=jnp.full((DEFAULT_WINDOW,), jnp.nan, dtype),
            change_scale_criterion=jnp.asarray(1e-2, dtype),
        )

    def prepare(
        self,
        state: MetamerCTFState,
        *,
        stop_iters_to_check: int,
        stop_criterion: float,
        change_scale_criterion: float | None = 1e-2,
        ctf_iters_to_check: int = 50,
        **options,
    ) -> MetamerCTFState:
        """Host-side, before :func:`jaxoptic.synthesize`: check and store the coarse-to-fine settings."""
        refuse_options(self, options)
        if (
            isinstance(ctf_iters_to_check, bool)
            or not isinstance(ctf_iters_to_check, (int, np.integer))
            or ctf_iters_to_check < 1
        ):
            raise ValueError(
                f"`ctf_iters_to_check` must be an int >= 1, got {ctf_iters_to_check!r}."
            )
        if change_scale_criterion is not None:
            if not np.isfinite(change_scale_criterion) or change_scale_criterion <= 0:
                raise ValueError(
                    f"`change_scale_criterion` must be a positive number or None, got {change_scale_criterion!r}."
                )
            if stop_criterion >= change_scale_criterion:
                raise ValueError(
                    f"`stop_criterion` ({stop_criterion}) must be smaller than `change_scale_criterion` "
                    f"({change_scale_criterion}), otherwise synthesis may stop before reaching the finest scale."
                )
        state = prepare_window_and_status(state, stop_iters_to_check)
        ring = state.scales_window
        if ring.shape[-1] != ctf_iters_to_check:
            new = resize_window(
                np.asarray(ring), np.asarray(state.iteration), int(ctf_iters_to_check)
            )
            state = eqx.tree_at(lambda s: s.scales_window, state, jnp.asarray(new, ring.dtype))
        crit = np.nan if change_scale_criterion is None else float(change_scale_criterion)
        return eqx.tree_at(
            lambda s: s.change_scale_criterion,
            state,
            jnp.full_like(state.change_scale_criterion, crit),
        )

    def step(self, state: MetamerCTFState) -> MetamerCTFState:
        """Maybe move to the next stage, then one optimizer step on the current stage's objective."""
        it = state.iteration
        n = state.scales_window.shape[0]
        stage = state.stage
        latest = state.scales_window[(it - 1) % n]
        oldest = state.scales_window[it % n]  # the stage loss ctf_iters_to_check steps ago
        crit = state.change_scale_criterion
        loss_flat = jnp.isnan(crit) | (jnp.abs(latest - oldest) < crit)
        long_enough = (it - state.scales_timing[stage, 0]) >= n
        switch = (stage < len(self.scales) - 1) & (it >= n) & loss_flat & long_enough
        timing = state.scales_timing
        nxt = jnp.minimum(stage + 1, len(self.scales) - 1)
        timing = jnp.where(switch, timing.at[stage, 1].set(it - 1).at[nxt, 0].set(it), timing)
        stage = jnp.where(switch, nxt, stage)
        opt_state = state.opt_state
        if otu.tree_get(opt_state, "scale", None) is not None:
            # plenoptic resets the learning rate when the scale changes: restart reduce_on_plateau's scale
            scale = otu.tree_get(opt_state, "scale")
            opt_state = otu.tree_set(
                opt_state, scale=jnp.where(switch, jnp.ones_like(scale), scale)
            )

        x = state.image
        objective = lambda img: self.stage_objective(img, stage)
        value, grad = jax.value_and_grad(objective)(x)
        overall = jax.lax.cond(
            stage == len(self.scales) - 1, lambda: value, lambda: self.objective(x)
        )
        penalty = jnp.asarray(self.penalty_function(x), x.dtype).reshape(())
        finite = jnp.isfinite(value) & jnp.isfinite(overall) & jnp.all(jnp.isfinite(grad))
        new_x, new_opt = guarded_update(
            self.optimizer, grad, opt_state, x, value=value, value_fn=objective, finite=finite
        )
        # on a fault fall back to the state before this step (opt_state may have had its
        # learning rate reset by a scale switch)
        new_opt = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new_opt, state.opt_state)
        new_x = jnp.where(finite, new_x, state.previous_image)
        return MetamerCTFState(
            image=new_x,
            opt_state=new_opt,
            iteration=it + finite.astype(jnp.int32),
            loss=overall,
            penalty=penalty,
            gradient_norm=jnp.sqrt(jnp.sum(grad**2)).astype(x.dtype),
            pixel_change_norm=jnp.sqrt(jnp.sum((new_x - x) ** 2)).astype(x.dtype),
            learning_rate=learning_rate_of(new_opt, x.dtype),
            loss_window=jnp.where(
                finite, window_push(state.loss_window, it, overall), state.loss_window
            ),
            status=jnp.where(finite, state.status, status_array(Status.NONFINITE)),
            previous_image=jnp.where(finite, x, state.previous_image),
            stage=jnp.where(finite, stage, state.stage),
            scales_timing=jnp.where(finite, timing, state.scales_timing),
            scales_loss=value,
            scales_window=jnp.where(
                finite, window_push(state.scales_window, it, value), state.scales_window
            ),
            change_scale_criterion=state.change_scale_criterion,
        )

    def terminate(self, state: MetamerCTFState, stop_criterion) -> tuple[Array, Array]:
        """Done when the loss criterion holds *and* the ``"all"`` stage has run for more than
        ``ctf_iters_to_check`` iterations (plenoptic's rule)."""
        last = len(self.scales) - 1
        n = state.scales_window.shape[0]
        in_all = (state.stage == last) & ((state.iteration - 1 - state.scales_timing[last, 0]) > n)
        converged = loss_converged(state.loss_window, state.iteration, stop_criterion) & in_all
        return converged_status(state.status, converged)

    def records(self, state: MetamerCTFState) -> dict[str, Array]:
        rec = super().records(state)
        rec["scales_loss"] = state.scales_loss
        rec["stage"] = state.stage
        return rec

    # -- host-side views of the schedule -----------------------------------------------------------
    def scales_timing(self, state: MetamerCTFState) -> dict:
        """``{scale: [start, stop]}`` iterations of each stage so far (plenoptic's ``scales_timing``)."""
        timing = np.asarray(state.scales_timing)
        return {sc: [int(v) for v in timing[i] if v >= 0] for i, sc in enumerate(self.scales)}

    def scales_finished(self, state: MetamerCTFState) -> tuple:
        """Scales whose stage is over, in order."""
        return tuple(self.scales[: int(state.stage)])

    def scales_remaining(self, state: MetamerCTFState) -> tuple:
        """The current scale and those still to come (plenoptic's ``scales`` during synthesis)."""
        return tuple(self.scales[int(state.stage) :])
