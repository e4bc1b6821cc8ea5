#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Parses reStructuredText files with docutils; any warning is an error."""

import sys

import docutils.core


def main(paths):
    for path in paths:
        docutils.core.publish_file(source_path=path, destination_path="/dev/null",
                                   writer_name="null", settings_overrides={"halt_level": 2})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
