"""Shared fixtures: the source tree, the enterprise example with its audit
log and state in a temporary directory, and a small policy."""
import os
import pathlib
import textwrap

import pytest

import agent_auth as aa

SRC = pathlib.Path(os.environ.get("AA_SOURCE_DIR",
                                  pathlib.Path(__file__).resolve().parents[2]))
ENTERPRISE = SRC / "examples" / "policies" / "enterprise.yaml"


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    """A private temporary working directory."""
    os.chmod(tmp_path, 0o700)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def enterprise(tmp):
    config = aa.load_config(ENTERPRISE)
    config.audit.path = str(tmp / "audit" / "audit.jsonl")
    return config


@pytest.fixture
def engine(enterprise):
    return aa.AuthEngine(enterprise)


MINIMAL = textwrap.dedent("""\
    version: "1.0"
    roles:
      viewer:
        actions: [read]
      editor:
        extends: viewer
        actions: [write]
    profiles:
      assistant:
        role: editor
        scopes: []
    approval_policies:
      - name: destructive
        condition: 'action == "delete"'
        tier: strong
    audit:
      path: audit/audit.jsonl
    """)


@pytest.fixture
def minimal_file(tmp):
    p = tmp / "agent_auth.yaml"
    p.write_text(MINIMAL)
    return p


def write(tmp, text, name="agent_auth.yaml"):
    p = tmp / name
    p.write_text(textwrap.dedent(text))
    return p
