"""What the end-to-end suites share: the running stack's URL, its token store, and a small JPEG."""

import io

import pytest
from PIL import Image
from sqlalchemy import create_engine

from annolog.api.settings import Settings
from annolog.api.tokens import Tokens


def jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def url(running_stack: tuple[Settings, str]) -> str:
    return running_stack[1]


@pytest.fixture(scope="module")
def tokens(running_stack: tuple[Settings, str]) -> Tokens:
    return Tokens(create_engine(running_stack[0].database_url or ""))
