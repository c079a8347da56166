"""Standing instructions: a turn that asks to be told when something happens ("tell me when the door opens") is
kept and its condition checked by the backend every ``ProactiveOptions.check_interval_s`` of stream time, until it
comes true (a ``proactive`` event) or is cancelled. Turns are parsed here as they are accepted, before any answer:
the engine replies to an instruction itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from engine.backends.base import BackendContext, ChecksConditions, Turn
from engine.events import Event, InstructionAdded, InstructionRemoved, Proactive
from engine.options import ProactiveOptions
from engine.proactive import Instruction, parse_cancel, parse_instruction
from engine.work import Work
from streams.clock import Clock


class StandingInstructions:
    def __init__(
        self,
        *,
        context: BackendContext,
        backend_name: str,
        clock: Clock,
        work: Work,
        options: ProactiveOptions,
        ids: Iterator[int],
        emit: Callable[[Event], None],
        error: Callable[[str, str], None],
        remember: Callable[[Turn], None],
    ) -> None:
        # the context, where it watches conditions; None: instructions are refused
        self.checker = (
            context if context.capabilities.checks_conditions and isinstance(context, ChecksConditions) else None
        )
        self.backend_name = backend_name
        self.clock = clock
        self.work = work
        self.options = options
        self.ids = ids
        self.emit = emit
        self.error = error
        self.remember = remember
        self.instructions: dict[str, Instruction] = {}
        self._checks_armed = False

    def take(self, query_id: str, text: str) -> str | None:
        """Handle a query that sets or cancels standing instructions; returns the engine's reply, or None."""
        if parse_cancel(text):
            removed = list(self.instructions)
            for instruction_id in removed:
                self.cancel(instruction_id, "cancelled by the user")
            return f"OK, I stopped {len(removed)} standing instruction{'s' if len(removed) != 1 else ''}."
        instruction = parse_instruction(text)
        if instruction is None:
            return None
        if self.checker is None:
            self.error(
                "proactive",
                f"the {self.backend_name} backend cannot watch for conditions: '{instruction.condition}' was not kept",
            )
            return f"Sorry, I can't watch for that with the {self.backend_name} backend."
        if len(self.instructions) >= self.options.max_instructions:
            self.error("proactive", f"too many standing instructions (limit {self.options.max_instructions})")
            return "Sorry, I'm already watching for too many things; cancel some first."
        instruction_id = f"i{next(self.ids)}"
        self.instructions[instruction_id] = instruction
        self.emit(
            InstructionAdded(
                t=self.clock.now(),
                instruction_id=instruction_id,
                condition=instruction.condition,
                say=instruction.say,
                query_id=query_id,
            )
        )
        if not self._checks_armed:
            self._checks_armed = True
            self.work.at(self.clock.now() + self.options.check_interval_s, self._check)
        return f"OK, I'll tell you when {instruction.condition}."

    def cancel(self, instruction_id: str, reason: str = "cancelled") -> bool:
        if self.instructions.pop(instruction_id, None) is None:
            return False
        self.emit(InstructionRemoved(t=self.clock.now(), instruction_id=instruction_id, reason=reason))
        return True

    def _check(self) -> None:
        if not self.instructions:
            self._checks_armed = False
            return
        self.work.spawn(self._run_checks(), "instruction-checks", self.work.hold())

    async def _run_checks(self) -> None:
        t = self.clock.now()
        for instruction_id, instruction in list(self.instructions.items()):
            assert self.checker is not None
            check = self.checker.check_condition
            try:
                result = await self.work.thread("ingest", check, instruction.condition, t)
            except Exception as exc:
                self.error("proactive", f"checking '{instruction.condition}' failed: {type(exc).__name__}: {exc}")
                continue
            if instruction_id not in self.instructions:
                continue
            if result is None:
                self.error("proactive", f"the {self.backend_name} backend cannot check '{instruction.condition}'")
                self.cancel(instruction_id, "cannot be checked")
            elif result.met:  # type: ignore[union-attr]
                self.emit(
                    Proactive(
                        t=self.clock.now(),
                        instruction_id=instruction_id,
                        text=instruction.say,
                        condition=instruction.condition,
                        score=round(result.score, 3),
                    )
                )  # type: ignore[union-attr]
                self.remember(Turn("assistant", instruction.say, self.clock.now()))
                self.cancel(instruction_id, "fired")
        if self.instructions:
            self.work.at(t + self.options.check_interval_s, self._check)
        else:
            self._checks_armed = False
