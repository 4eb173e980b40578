"""The catheter: dead space between the pump and the spinal fluid, first in, first out.

Drug pumped now reaches the patient only after the catheter's volume has gone before it: at
implant the catheter holds no drug (it is primed with a bolus), and after a change of
concentration the old drug still in the catheter is delivered first.
"""

from __future__ import annotations

from collections import deque


class Catheter:
    def __init__(self, volume_q: int, concentration_ug_per_ml: int = 0) -> None:
        # Segments from the patient end to the pump end: [volume in quanta, µg/mL].
        self.segments: deque[list[int]] = deque()
        if volume_q:
            self.segments.append([volume_q, concentration_ug_per_ml])

    def pump(self, volume_q: int, concentration_ug_per_ml: int) -> int:
        """Push ``volume_q`` in at the pump end; return the drug mass that left the tip.

        The mass is in picogram-quanta (quanta times µg/mL).
        """
        segments = self.segments
        if not segments:
            return volume_q * concentration_ug_per_ml
        if len(segments) == 1 and segments[0][1] == concentration_ug_per_ml:
            return volume_q * concentration_ug_per_ml  # steady state: in equals out
        if segments[-1][1] == concentration_ug_per_ml:
            segments[-1][0] += volume_q
        else:
            segments.append([volume_q, concentration_ug_per_ml])
        mass = 0
        remaining = volume_q
        while remaining:
            front = segments[0]
            if front[0] <= remaining:
                mass += front[0] * front[1]
                remaining -= front[0]
                segments.popleft()
            else:
                front[0] -= remaining
                mass += remaining * front[1]
                remaining = 0
        return mass

    @property
    def drug_front_q(self) -> int:
        """Quanta of drug-free fluid still between the drug and the tip (0: primed)."""
        free = 0
        for volume_q, concentration in self.segments:
            if concentration:
                break
            free += volume_q
        return free
