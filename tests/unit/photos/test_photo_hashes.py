"""Perceptual hashes: format, stability under re-encoding and rescaling, discrimination."""

from __future__ import annotations

import random
import re

import imagehash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter

from storage.photos.hashes import hamming, perceptual_hashes
from storage.photos.sanitise import sanitise_with_image
from tests.support import photo_fixtures as fx

HEX64 = re.compile(r"[0-9a-f]{16}")


def scene(seed: int, size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """A photo-like picture: gradient, blurred shapes, some noise; different per seed."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(20, size[0] // 4)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    noise = Image.effect_noise(size, 20).convert("RGB")
    return Image.blend(image, noise, 0.08)


def test_two_64_bit_hex_hashes() -> None:
    phash, dhash = perceptual_hashes(scene(1))
    assert HEX64.fullmatch(phash)
    assert HEX64.fullmatch(dhash)
    assert phash != dhash


def test_same_picture_after_sanitising_and_rescaling_stays_close() -> None:
    original = scene(2, (3000, 2250))
    base = perceptual_hashes(original)
    variants = [
        sanitise_with_image(fx.jpeg_bytes(original, quality=70)).image,
        fx.decode(fx.jpeg_bytes(original.resize((800, 600)), quality=60)),
        original.resize((400, 300), Image.Resampling.BILINEAR),
        sanitise_with_image(fx.png_bytes(original.resize((1024, 768)))).image,
    ]
    for variant in variants:
        phash, dhash = perceptual_hashes(variant)
        assert hamming(phash, base[0]) <= 6, variant.size
        assert hamming(dhash, base[1]) <= 8, variant.size


def test_preview_reduction_is_close_to_imagehash_on_the_full_image() -> None:
    """The box-reduced preview changes next to nothing against imagehash's own Lanczos."""
    image = scene(3, (4000, 3000))
    phash, dhash = perceptual_hashes(image)
    assert hamming(phash, str(imagehash.phash(image))) <= 4
    assert hamming(dhash, str(imagehash.dhash(image))) <= 4


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_two_step_reduction_stays_close_to_the_one_step_hashes_stored_before(seed: int) -> None:
    """Hashes stored before December 2026 came from one box reduction straight to a short edge
    of 64-127 pixels; the same 12 MP picture hashed now must still be a near-duplicate of them
    by a wide margin (the similar-photos distance is 8)."""
    image = scene(seed, (4032, 3024))
    grey = image.reduce(min(image.size) // 64).convert("L")
    phash, dhash = perceptual_hashes(image)
    assert hamming(phash, str(imagehash.phash(grey, hash_size=8))) <= 4
    assert hamming(dhash, str(imagehash.dhash(grey, hash_size=8))) <= 4


def test_different_pictures_are_far_apart() -> None:
    hashes = [perceptual_hashes(scene(seed)) for seed in range(10, 16)]
    for i, (p1, d1) in enumerate(hashes):
        for p2, d2 in hashes[i + 1 :]:
            assert hamming(p1, p2) > 12
            assert hamming(d1, d2) > 10


def test_orientation_matters_so_hash_the_upright_image() -> None:
    upright = scene(4)
    rotated = upright.transpose(Image.Transpose.ROTATE_90)
    assert hamming(perceptual_hashes(upright)[0], perceptual_hashes(rotated)[0]) > 12


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA", "CMYK"])
def test_any_mode_is_accepted(mode: str) -> None:
    phash, dhash = perceptual_hashes(scene(5, (300, 200)).convert(mode))
    assert HEX64.fullmatch(phash)
    assert HEX64.fullmatch(dhash)


def test_tiny_images_hash() -> None:
    assert all(HEX64.fullmatch(h) for h in perceptual_hashes(Image.new("RGB", (1, 1))))


def test_hamming_basics() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("0000000000000000", "ffffffffffffffff") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    assert hamming("ABCDEF0123456789", "abcdef0123456789") == 0


@pytest.mark.parametrize(
    "bad", ["", "123", "0" * 15, "0" * 17, "g" * 16, " 000000000000000", "0x00000000000000"]
)
def test_hamming_rejects_what_is_not_a_64_bit_hex_hash(bad: str) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        hamming(bad, "0" * 16)
    with pytest.raises(ValueError, match="64-bit"):
        hamming("0" * 16, bad)


_hash = st.integers(0, 2**64 - 1).map(lambda v: f"{v:016x}")


@settings(max_examples=200, deadline=None, database=None)
@given(a=_hash, b=_hash, c=_hash)
def test_hamming_is_a_metric(a: str, b: str, c: str) -> None:
    assert hamming(a, a) == 0
    assert hamming(a, b) == hamming(b, a) == bin(int(a, 16) ^ int(b, 16)).count("1")
    assert hamming(a, c) <= hamming(a, b) + hamming(b, c)
