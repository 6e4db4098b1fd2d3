"""``wsrpc-gen``: schema documents, typed clients and breaking-change checks.

Exit codes: 0 when all is well; 1 when ``--check`` finds a stale file or
``diff`` finds a breaking change; 2 when the input is wrong (the message on
stderr says why).
"""

from __future__ import annotations

import difflib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from wsrpc_typed.asyncapi import asyncapi_document
from wsrpc_typed.cli import (
    DebugOpt,
    HeaderOpt,
    TokenOpt,
    VersionOpt,
    request_headers,
    run_app,
    set_debug,
)
from wsrpc_typed.errors import WsrpcError
from wsrpc_typed.schema import jsonschema_document, openrpc_document, render_json

from .diff import diff_specs
from .generate import (
    DEFAULT_CLASS_NAME,
    DEFAULT_PEER_CLASS_NAME,
    generate_client,
    generate_peer,
    generate_typescript_client,
)
from .loaders import document_from_source, load_spec, spec_from_document

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=__doc__,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _options(version: VersionOpt = False, debug: DebugOpt = False) -> None:
    set_debug(debug)


SourceArg = Annotated[
    str,
    typer.Argument(
        help="pkg.module:router, a schema file (JSON Schema or OpenRPC) or a ws:// URL."
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
]
CheckOpt = Annotated[
    bool,
    typer.Option(
        "--check", help="Write nothing; exit 1 and print a diff if the output file is stale."
    ),
]


class Format(StrEnum):
    """Schema document formats."""

    jsonschema = "jsonschema"
    openrpc = "openrpc"
    asyncapi = "asyncapi"


class Lang(StrEnum):
    """Target languages of generated code."""

    python = "python"
    typescript = "typescript"


LangOpt = Annotated[Lang, typer.Option("--lang", "-l", help="Language of the generated module.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _emit(text: str, output: Path | None, check: bool) -> None:
    if check:
        if output is None:
            raise _fail("--check needs --output FILE to compare with")
        try:
            current = output.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        if current != text:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{output} (on disk)",
                    tofile=f"{output} (generated)",
                )
            )
            typer.echo(f"{output} is stale; regenerate it without --check", err=True)
            raise typer.Exit(1)
        return
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


@app.command()
def schema(
    source: SourceArg,
    output: OutputOpt = None,
    header: HeaderOpt = None,
    token: TokenOpt = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="Document format.")
    ] = Format.jsonschema,
    check: CheckOpt = False,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server-url",
            help="With --format asyncapi: the server's ws:// or wss:// URL, for its servers entry.",
        ),
    ] = None,
) -> None:
    """Write the schema document of an API (JSON Schema 2020-12, OpenRPC 1.3 or AsyncAPI 3.0)."""
    if server_url is not None and format is not Format.asyncapi:
        raise _fail("--server-url goes with --format asyncapi")
    try:
        spec = load_spec(source, request_headers(header, token))
        if format is Format.asyncapi:
            document = asyncapi_document(spec, server_url=server_url)
        else:
            render = openrpc_document if format is Format.openrpc else jsonschema_document
            document = render(spec)
    except WsrpcError as exc:
        raise _fail(str(exc)) from None
    _emit(render_json(document), output, check)


@app.command()
def client(
    source: SourceArg,
    output: OutputOpt = None,
    header: HeaderOpt = None,
    token: TokenOpt = None,
    class_name: Annotated[
        str, typer.Option("--class-name", help="Name of the generated client class.")
    ] = DEFAULT_CLASS_NAME,
    handlers_name: Annotated[
        str,
        typer.Option(
            "--handlers-name",
            help="Name of the Protocol of the peer methods (default: CLASS_NAME without "
            "'Client', plus 'Handlers').",
        ),
    ] = "",
    lang: LangOpt = Lang.python,
    check: CheckOpt = False,
) -> None:
    """Generate a typed client module (Python, or TypeScript) from a schema document.

    When the document declares peer methods, the module also has the handlers the
    client implements (a Protocol and register_handlers(router, handlers) in Python,
    an interface and registerHandlers(connection, handlers) in TypeScript).
    """
    generate = generate_typescript_client if lang is Lang.typescript else generate_client
    try:
        text = generate(
            document_from_source(source, request_headers(header, token)),
            class_name=class_name,
            handlers_name=handlers_name,
        )
    except WsrpcError as exc:
        raise _fail(str(exc)) from None
    _emit(text, output, check)


@app.command()
def peer(
    source: SourceArg,
    output: OutputOpt = None,
    header: HeaderOpt = None,
    token: TokenOpt = None,
    class_name: Annotated[
        str, typer.Option("--class-name", help="Name of the generated peer class.")
    ] = DEFAULT_PEER_CLASS_NAME,
    lang: LangOpt = Lang.python,
    check: CheckOpt = False,
) -> None:
    """Generate the server-side stub that calls the peer methods a schema declares.

    The stub is Python, for the Python server; a TypeScript client's side of the peer
    methods (their interface and registration) is in its client module.
    """
    if lang is Lang.typescript:
        raise _fail(
            "a peer stub is server-side code, and the server is Python; the TypeScript "
            "client module holds the peer methods' interface and registerHandlers "
            "(wsrpc-gen client SOURCE --lang typescript)"
        )
    try:
        text = generate_peer(
            document_from_source(source, request_headers(header, token)), class_name=class_name
        )
    except WsrpcError as exc:
        raise _fail(str(exc)) from None
    _emit(text, output, check)


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The schema in use (file, module or URL).")],
    new: Annotated[str, typer.Argument(help="The schema to compare it with.")],
) -> None:
    """List the changes from OLD to NEW; exit 1 if any breaks existing clients."""
    try:
        changes = diff_specs(
            spec_from_document(document_from_source(old)),
            spec_from_document(document_from_source(new)),
        )
    except WsrpcError as exc:
        raise _fail(str(exc)) from None
    for change in changes:
        typer.echo(str(change))
    breaking = sum(change.breaking for change in changes)
    typer.echo(f"{len(changes)} change(s), {breaking} breaking", err=True)
    if breaking:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``wsrpc-gen`` command."""
    run_app(app, "wsrpc-gen")


if __name__ == "__main__":
    main()
