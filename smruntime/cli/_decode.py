"""``smruntime decode``: describe every frame of a captured event stream.

Exit codes: 0 when every frame checks out, 5 (``EXIT_TRUNCATED``) when a frame is corrupt or cut
or the input holds no bytes at all, 1 when the file cannot be read.
"""

from __future__ import annotations

import argparse

from smruntime.cli._errors import EXIT_OK, EXIT_TRUNCATED, CLIError
from smruntime.cli._format import fmt_bytes, one_line
from smruntime.cli._input import read_file, read_stdin
from smruntime.cli._output import err, out_json, out_text


def cmd_decode(args: argparse.Namespace) -> int:
    """``smruntime decode``: describe every frame of a captured stream."""
    from eventstream import describe

    if args.file == "-":
        data, name = read_stdin(), "<stdin>"
    else:
        data, name = read_file(args.file), args.file
    if not data:
        raise CLIError(
            f"{name}: empty: no frames to decode (a capture of a call that failed before its "
            "first byte?)",
            code=EXIT_TRUNCATED,
        )
    infos = describe(data)
    dicts = [info.to_dict() for info in infos]
    if args.json_list:
        out_json(dicts, indent=2)
    for info, as_dict in zip(infos, dicts):
        if args.json:
            out_json(as_dict)
        elif not args.json_list:
            out_text(info.format().rstrip("\n") + "\n")
    bad = [(index, info) for index, info in enumerate(infos) if info.error]
    if bad:
        index, info = bad[0]
        offset = getattr(info, "offset", None)
        where = f" at offset {offset}" if offset is not None else ""
        raise CLIError(
            f"{name}: frame {index}{where}: {one_line(str(info.error))}", code=EXIT_TRUNCATED
        )
    if not (args.json or args.json_list):
        err(f"--- {len(infos)} frames, {fmt_bytes(len(data))}, all checks passed")
    return EXIT_OK
