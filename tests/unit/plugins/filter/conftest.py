"""Make the collection importable as ansible_collections.mlops.stack under plain pytest."""

import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(REPO, ".tools", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
