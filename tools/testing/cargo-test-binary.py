#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reads cargo's JSON messages (cargo test --no-run --message-format=json) on
standard input and prints the path of the test binary named NAME, whose file
name holds a hash only cargo knows."""

import json
import sys


def main(name):
    for line in sys.stdin:
        msg = json.loads(line)
        if (msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == name
                and msg.get("executable")):
            print(msg["executable"])
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
