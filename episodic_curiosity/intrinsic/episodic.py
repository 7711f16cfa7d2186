"""Episodic curiosity (EC) and its online variant (ECO) on the intrinsic-reward interface.

The bonus of a step, for every env, in the original's order (the original code): embed the
step's curiosity frame, compare it with every entry of the env's episodic memory, aggregate
the similarities (`EpisodicMemory.similarity_aggregation`), bonus = beta - aggregate with
beta = 0.5 + `bonus_reward_additive_term`, and 0 on an episode's last step; then update the
memory: an env whose episode ended is emptied and gets the current embedding (with SAME_STEP
auto-reset that is the next episode's first frame, as in the original), any other env adds it
iff the aggregate is below `similarity_threshold` (tau).

`EpisodicCuriosity` computes a rollout's bonus with batched embeddings: the frames of
`embedding_batch_size` (rounded up to whole vector steps) go through the R-network in one
call, then the comparisons and memory updates run step by step in order, so the bonuses are
the per-step ones (up to float rounding of the batch composition). With comparator keys
(`r_network.RNetwork`), a chunk's comparisons are one comparator call (`_chunk_one_comparison`).
`background=True` processes each chunk in a worker thread while the envs step.

`OnlineEpisodicCuriosity` (PPO+ECO) also retrains the R-network from the policy's own frames
(`online_r_training.OnlineRNetworkTrainer`) at exact vector steps, so every step is scored with
the weights of that moment: the steps observed since the last training are scored in the same
batched chunks, flushed just before each training and at the end of the rollout (the per-step
bonuses up to float rounding of the batch composition, as for EC; an aggregate within rounding
of tau can then decide a memory addition the other way).
"""

from __future__ import annotations

import concurrent.futures
import math
import os

import gin
import numpy as np

from episodic_curiosity import episodic_memory
from episodic_curiosity import online_r_training
from episodic_curiosity import r_network as r_network_lib
from episodic_curiosity.intrinsic import base


@gin.configurable(denylist=["setup", "network", "memory"])
class EpisodicCuriosity(base.IntrinsicReward):
    """PPO+EC's bonus: novelty with respect to an episodic memory, judged by an R-network."""

    name = "episodic_curiosity"
    uses_frames = True
    requires_r_network = True

    def __init__(
        self,
        setup: base.Setup,
        network=None,
        bonus_reward_additive_term: float = 0.0,
        similarity_threshold: float = 0.5,
        embedding_batch_size: int = 128,
        background: bool = False,
        store_memory_infos: bool = False,
        memory: episodic_memory.EpisodicMemory | None = None,
    ):
        """Args:
        setup: base.Setup; the R-network comes from `setup.r_checkpoint` unless `network`
          is given.
        network: an R-network object (`r_network.RNetwork`, or anything with `input_shape`,
          `embed` and `similarity`; with `query_keys`, `memory_keys` and
          `similarity_from_keys` it is compared through keys).
        bonus_reward_additive_term: float, beta = 0.5 + this.
        similarity_threshold: float, tau: add to memory iff aggregate < tau.
        embedding_batch_size: int, frames per embedding call (rounded up to whole steps).
        background: bool, embed and compare each chunk of a rollout in a worker thread as
          soon as its steps are observed (identical bonuses; overlaps with env stepping).
        store_memory_infos: bool, memory entries keep their step's per-env info (videos).
        memory: a prebuilt EpisodicMemory of `setup.num_envs` envs (None: built with the
          gin-bound `EpisodicMemory` settings and `setup.seed`); with comparator keys it
          needs the network's key size.
        """
        super().__init__(setup)
        if network is None:
            if not setup.r_checkpoint:
                raise ValueError(
                    f"{type(self).__name__} needs an R-network: pass r_checkpoint (--r_checkpoint / --r_networks_path)"
                )
            network = r_network_lib.RNetwork(
                weights_path=setup.r_checkpoint, inference_dtype=setup.r_network_inference_dtype
            )
        self.r_network = network
        self.bonus_offset = 0.5 + float(bonus_reward_additive_term)
        self.similarity_threshold = float(similarity_threshold)
        self.embedding_batch_size = int(embedding_batch_size)
        if self.embedding_batch_size < 1:
            raise ValueError(f"embedding_batch_size must be >= 1, got {embedding_batch_size}")
        self._steps_per_chunk = -(-self.embedding_batch_size // self.num_envs)
        self._use_keys = all(hasattr(network, name) for name in ("query_keys", "memory_keys", "similarity_from_keys"))
        self._dense_similarity_fn = getattr(network, "memory_similarities", None) if self._use_keys else None
        probe = network.embed(np.zeros((1, *network.input_shape), np.uint8))
        key_size = network.memory_keys(probe).shape[1] if self._use_keys else None
        self.memory = memory or episodic_memory.EpisodicMemory(
            self.num_envs,
            embedding_size=probe.shape[1],
            seed=setup.seed,
            key_size=key_size,
            store_info=store_memory_infos,
        )
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="curiosity_bonus") if background else None
        )
        self._pending: list[tuple] = []  # observed steps: (frames, dones, per-env infos or None)
        self._futures: list[concurrent.futures.Future] = []
        self._submitted = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.r_network.input_shape)

    def reset(self) -> None:
        self._discard_pending()
        self.memory.reset()

    def observe(self, step: base.Step) -> None:
        if self._executor is None and self.memory.infos is None:
            return
        frames = self.check_frames(step.frame)
        infos = self._per_env_infos(step.infos) if self.memory.infos is not None else None
        self._pending.append((np.array(frames), np.asarray(step.done, bool), infos))
        if self._executor is not None:
            self._submit(final=False)

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        num_steps = rollout.num_steps
        if self._executor is not None:
            if len(self._pending) != num_steps:
                raise ValueError(
                    f"{len(self._pending)} steps were observed, the rollout has {num_steps}: "
                    "with background=True every step must go through observe()"
                )
            self._submit(final=True)
            try:
                bonuses = [bonus for future in self._futures for bonus in future.result()]
            except BaseException:
                self._discard_pending()  # waits for the other chunks; the memories need a reset
                raise
            self._futures, self._submitted, self._pending = [], 0, []
            return np.array(bonuses, np.float64).reshape(num_steps, self.num_envs)
        frames = self.check_frames(rollout.frames, leading=2)
        infos = [entry[2] for entry in self._pending] if len(self._pending) == num_steps else [None] * num_steps
        self._pending = []
        steps = [(frames[t], np.asarray(rollout.dones[t], bool), infos[t]) for t in range(num_steps)]
        bonuses = [
            bonus
            for start in range(0, num_steps, self._steps_per_chunk)
            for bonus in self._chunk_bonuses(steps[start : start + self._steps_per_chunk])
        ]
        return np.array(bonuses, np.float64).reshape(num_steps, self.num_envs)

    def statistics(self) -> dict[str, float]:
        return {"memory_size_mean": float(self.memory.sizes.mean())}

    def close(self) -> None:
        self._discard_pending()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def refresh_memory_keys(self) -> None:
        """Recomputes stored comparison keys after the R-network changed (ECO); the stored
        embeddings stay as they are, as in the original."""
        if self.memory.keys is None:
            return
        envs, slots = np.nonzero(self.memory.valid_mask())
        if envs.size:
            self.memory.keys[envs, slots] = self.r_network.memory_keys(self.memory.embeddings[envs, slots])

    def check_frames(self, frames, leading: int = 1) -> np.ndarray:
        """Frames of `leading` batch axes ([N, ...] or [T, N, ...]) with the R-network's input shape."""
        if frames is None:
            raise ValueError("episodic curiosity needs the curiosity frames (Rollout.frames / Step.frame)")
        frames = np.asarray(frames)
        expected = (self.num_envs, *self.input_shape)
        if frames.ndim != len(expected) + leading - 1 or frames.shape[leading - 1 :] != expected:
            raise ValueError(
                f"curiosity frames have shape {list(frames.shape)}; the R-network expects "
                f"[{'T, ' if leading == 2 else ''}{', '.join(map(str, expected))}] "
                "(info['frame'] if the envs provide it, else the observations)"
            )
        return frames

    # The bonus rule -----------------------------------------------------------------------------

    def step_bonus(self, frames: np.ndarray, dones: np.ndarray, infos: list | None = None) -> np.ndarray:
        """The bonus of one vector step (and its memory update), [N]."""
        return self._chunk_bonuses([(self.check_frames(frames), np.asarray(dones, bool), infos)])[0]

    def _chunk_bonuses(self, steps) -> list[np.ndarray]:
        """Bonuses of consecutive steps: one embedding call for all their frames, then the
        comparisons and memory updates step by step, in order."""
        embeddings = self.r_network.embed(np.concatenate([frames for frames, _, _ in steps]))
        queries, keys = self._comparison_keys(embeddings)
        if self._dense_similarity_fn is not None and len(steps) > 1:
            return self._chunk_one_comparison(steps, embeddings, queries, keys)
        bonuses = []
        for t, (_, dones, infos) in enumerate(steps):
            rows = slice(t * self.num_envs, (t + 1) * self.num_envs)
            bonuses.append(self._bonus_and_memory_update(embeddings[rows], queries[rows], keys[rows], dones, infos))
        return bonuses

    def _chunk_one_comparison(self, steps, embeddings, queries, keys) -> list[np.ndarray]:
        """`_chunk_bonuses`' step-by-step rule with all of the chunk's comparisons in one call.

        A memory entry seen during the chunk is either in the memory when the chunk starts or
        one of the chunk's earlier frames of the same env, so one comparator call scores each
        step's query against both sets (the same pairs as step by step, computed in another
        batch); then the steps replay in order: aggregate the scores of the slots each memory
        holds at that step, bonus, reset, add (the same memory calls, random replacement
        included).
        """
        num_steps, num_envs, memory = len(steps), self.num_envs, self.memory
        width = int(memory.sizes.max(initial=0))
        step_keys = keys.reshape(num_steps, num_envs, -1)
        # Candidates of env i: its memory's first `width` slots, then the chunk's frames of env i.
        candidates = np.concatenate([memory.keys[:, :width], step_keys.transpose(1, 0, 2)], axis=1)
        scores = np.asarray(
            self._dense_similarity_fn(
                np.asarray(queries, np.float32),
                np.broadcast_to(candidates[None], (num_steps, *candidates.shape)).reshape(
                    num_steps * num_envs, *candidates.shape[1:]
                ),
            ),
            np.float64,
        ).reshape(num_steps, num_envs, width + num_steps)
        # source[i, slot]: the candidate column that slot of memory i holds (-1: none).
        source = np.where(memory.valid_mask(), np.arange(memory.capacity)[None], -1)
        source[:, width:] = -1
        rows = np.arange(num_envs)[:, None]
        bonuses = []
        for t, (_, dones, infos) in enumerate(steps):
            held = source >= 0
            similarities = np.where(held, scores[t][rows, np.maximum(source, 0)], np.nan)
            aggregates = episodic_memory.aggregate(similarities, memory.sizes, memory.similarity_aggregation)
            bonuses.append(np.where(dones, 0.0, self.bonus_offset - aggregates))
            memory.reset(dones)
            source[dones] = -1
            envs, slots = memory.add(
                embeddings[t * num_envs : (t + 1) * num_envs],
                dones | (aggregates < self.similarity_threshold),
                infos=infos,
                keys=keys[t * num_envs : (t + 1) * num_envs],
            )
            source[envs, slots] = width + t
        return bonuses

    def _comparison_keys(self, embeddings):
        """(query keys, memory keys) of embeddings, or the embeddings themselves without keys."""
        if self._use_keys:
            return self.r_network.query_keys(embeddings), self.r_network.memory_keys(embeddings)
        return embeddings, embeddings

    def _bonus_and_memory_update(self, embeddings, queries, keys, dones, infos) -> np.ndarray:
        """One step of the rule for all envs (module docstring)."""
        if self._use_keys:
            aggregates = self.memory.aggregate_similarity(
                queries, self.r_network.similarity_from_keys, self._dense_similarity_fn
            )
        else:
            aggregates = self.memory.aggregate_similarity(queries, self.r_network.similarity)
        bonus = np.where(dones, 0.0, self.bonus_offset - aggregates)
        self.memory.reset(dones)
        self.memory.add(
            embeddings,
            dones | (aggregates < self.similarity_threshold),
            infos=infos,
            keys=keys if self._use_keys else None,
        )
        return bonus

    # Background processing ---------------------------------------------------------------------

    def _submit(self, final: bool) -> None:
        """Hands every complete chunk of observed steps (and, if `final`, the rest) to the worker."""
        while True:
            ready = len(self._pending) - self._submitted
            if ready == 0 or (ready < self._steps_per_chunk and not final):
                return
            chunk = self._pending[self._submitted : self._submitted + self._steps_per_chunk]
            self._futures.append(self._executor.submit(self._chunk_bonuses, chunk))
            self._submitted += len(chunk)

    def _discard_pending(self) -> None:
        for future in self._futures:
            future.cancel()
        if self._futures:
            concurrent.futures.wait(self._futures)
        self._futures, self._submitted, self._pending = [], 0, []

    def _per_env_infos(self, infos: dict | None) -> list[dict] | None:
        if infos is None:
            return None
        return [
            {
                k: v[i]
                for k, v in infos.items()
                if not k.startswith("_") and k != "final_info" and isinstance(v, np.ndarray) and len(v) == self.num_envs
            }
            for i in range(self.num_envs)
        ]


@gin.configurable(denylist=["setup", "network", "memory"])
class OnlineEpisodicCuriosity(EpisodicCuriosity):
    """PPO+ECO: episodic curiosity whose R-network is retrained online from the policy's frames.

    The R-network starts from `setup.r_checkpoint` or, as in the original, a random init. Its
    frame history lives in `<workdir>/eco_history/`; after every training the R-network's
    weights are written to `<workdir>/r_network_weights.NNNNN.h5` (the original's names:
    00011, 00021, ... with 10 epochs per training) and the memory keys are recomputed.
    """

    name = "online_episodic_curiosity"
    requires_r_network = False

    def __init__(self, setup: base.Setup, network=None, **kwargs):
        if not setup.workdir:
            raise ValueError(
                "OnlineEpisodicCuriosity needs Setup.workdir (its frame history and retrained "
                "R-networks are written there): pass workdir= to CuriosityEnvWrapper / Setup"
            )
        if network is None and not setup.r_checkpoint:
            network = r_network_lib.RNetwork(inference_dtype=setup.r_network_inference_dtype)
        super().__init__(setup, network=network, **kwargs)
        if self._executor is not None:
            raise ValueError(
                "OnlineEpisodicCuriosity scores every step with the weights of that moment: "
                "background=True does not apply"
            )
        history = os.path.join(setup.workdir, "eco_history", "frames.u8")
        self.trainer = online_r_training.OnlineRNetworkTrainer(
            self.r_network, self.num_envs, self.r_network.input_shape, history, seed=setup.seed
        )
        self.trainer.add_weights_listener(self.refresh_memory_keys)
        self.trainer.add_weights_listener(self._save_weights)
        self._bonuses: list[np.ndarray] = []

    def _save_weights(self) -> None:
        trainer = self.trainer
        if trainer.trainings == 0:  # a resume before the first training: nothing trained to save
            return
        self.r_network.save_weights(
            os.path.join(self.setup.workdir, f"r_network_weights.{trainer.trainings * trainer.num_epochs + 1:05d}.h5")
        )

    def reset(self) -> None:
        super().reset()
        self._bonuses = []

    def observe(self, step: base.Step) -> None:
        frames = self.check_frames(step.frame)
        infos = self._per_env_infos(step.infos) if self.memory.infos is not None else None
        if self.trainer.trains_on_next_observe():
            # This step's observe retrains the R-network, and this step is the first to be
            # scored with the new weights: score the earlier ones with the weights they had,
            # so that the memory (whose keys the training refreshes) holds them.
            self._score_pending()
        self.trainer.observe(frames, step.done)
        self._pending.append((np.array(frames), np.asarray(step.done, bool), infos))

    def _score_pending(self) -> None:
        """Bonuses of the observed, not yet scored steps, in chunks (the per-step rule)."""
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._steps_per_chunk):
            self._bonuses += self._chunk_bonuses(pending[start : start + self._steps_per_chunk])

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        self._score_pending()
        if len(self._bonuses) != rollout.num_steps:
            raise ValueError(
                f"{len(self._bonuses)} steps were observed, the rollout has "
                f"{rollout.num_steps}: every ECO step must go through observe()"
            )
        bonuses, self._bonuses = np.array(self._bonuses, np.float64), []
        return bonuses

    def progress_columns(self) -> dict[str, float]:
        """The online R-network's trainings so far and its last training's loss and accuracy on
        its training and validation pairs (nan before the first training): whether the online
        R-network learns to tell reachable pairs from the others is read from `progress.csv`."""
        columns = {"r_network_trainings": float(self.trainer.trainings)}
        columns.update({f"r_network_{k}": float(v) for k, v in self.trainer.last_metrics.items()})
        return columns

    def statistics(self) -> dict[str, float]:
        stats = super().statistics()
        stats.update({k: v for k, v in self.progress_columns().items() if not math.isnan(v)})
        return stats

    def variable_groups(self) -> dict[str, list]:
        return self.trainer.variable_groups()

    def state_attributes(self) -> dict:
        return self.trainer.state_attributes()

    def restore_state(self, attributes: dict) -> None:
        self.trainer.restore_attributes(attributes)

    def close(self) -> None:
        super().close()
        self.trainer.history.close()
