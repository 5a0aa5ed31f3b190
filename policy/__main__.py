"""The botstack policy pack: `pulumi preview --policy-pack policy` (used by .github/workflows/preview.yml).

Only this file starts pulumi-policy's gRPC server; the rules live in botstack_policy.py so tests can
import and call them.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from botstack_policy import make_policies  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

PolicyPack(
    name="botstack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=make_policies(),
)
