"""The Dockerfile language: parsing and Docker's word expansion rules."""

from dockyard.build.dockerfile.expand import ExpansionError, expand_word, expand_words, split_raw_words
from dockyard.build.dockerfile.parser import (
    INSTRUCTIONS,
    Dockerfile,
    DockerfileParseError,
    Heredoc,
    Instruction,
    parse_dockerfile,
    parse_instruction_line,
    split_flags,
)

__all__ = [
    "INSTRUCTIONS",
    "Dockerfile",
    "DockerfileParseError",
    "ExpansionError",
    "Heredoc",
    "Instruction",
    "expand_word",
    "expand_words",
    "parse_dockerfile",
    "parse_instruction_line",
    "split_flags",
    "split_raw_words",
]
