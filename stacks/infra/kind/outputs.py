"""What a kind environment exports: the outputs every environment has (`stacks.stack_outputs`)."""
from __future__ import annotations

from typing import Literal

from stacks.stack_outputs import EnvironmentOutputs


class Outputs(EnvironmentOutputs):
    cloud: Literal["kind"]
