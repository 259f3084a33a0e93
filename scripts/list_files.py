#!/usr/bin/env python3
"""Lists files in DIR whose names start with PREFIX and end with SUFFIX, sorted (for meson)."""
import os
import sys

directory, prefix, suffix = sys.argv[1:4]
print("\n".join(sorted(f for f in os.listdir(directory)
                       if f.startswith(prefix) and f.endswith(suffix))))
