"""botstack: load the stack config, declare the stack, export its outputs."""

import pulumi

from components.config_loading import load_config
from components.stack import build_stack

config = load_config()
for name, value in build_stack(config, pulumi.get_project(), pulumi.get_stack()).items():
    pulumi.export(name, value)
