"""Upload fixtures for the provenance reader: images made with Pillow, metadata written with
exiftool (an independent writer, not the code under test), raw EXIF built byte by byte for the
malformed cases, and C2PA manifests signed with a throwaway test CA.

exiftool is required: when it is missing the tests that need it FAIL with an install hint.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pillow_heif
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, ImageCms

pillow_heif.register_heif_opener()

IPTC_SOURCE_TYPE: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/"
FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
SUFFIX: Final = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}
EXIFTOOL_TIMEOUT_S: Final = 60


def exiftool() -> str:
    """Path of exiftool, or fail the calling test (never skip) with how to install it."""
    path = shutil.which("exiftool")
    if path is None:
        pytest.fail(
            "exiftool is required by the provenance fixtures and was not found on PATH; "
            "install it (Debian: apt-get install libimage-exiftool-perl)",
            pytrace=False,
        )
    return path


def plain_image(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small image with no metadata at all (Pillow writes none unless asked)."""
    image = Image.new("RGB", size, (90, 140, 200))
    for x in range(0, size[0], 8):  # some structure so encoders do real work
        image.paste((20, 20, 20), (x, 0, x + 4, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def with_exiftool(data: bytes, fmt: str, *assignments: str) -> bytes:
    """``data`` rewritten by exiftool with ``-TAG=VALUE`` style arguments."""
    tool = exiftool()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"upload{SUFFIX[fmt]}"
        path.write_bytes(data)
        result = subprocess.run(
            [tool, "-q", "-q", "-m", "-overwrite_original", *assignments, str(path)],
            capture_output=True,
            timeout=EXIFTOOL_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"exiftool failed: {result.stderr.decode(errors='replace')}")
        return path.read_bytes()


def exif_image(
    fmt: str = "JPEG",
    *,
    taken: str | None = None,
    offset: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    extra: Sequence[str] = (),
) -> bytes:
    """An image whose EXIF (written by exiftool) has the given capture time and position.

    ``lat``/``lon`` are signed degrees; exiftool gets the magnitude and the N/S, E/W ref.
    """
    args: list[str] = []
    if taken is not None:
        args.append(f"-EXIF:DateTimeOriginal={taken}")
    if offset is not None:
        args.append(f"-EXIF:OffsetTimeOriginal={offset}")
    if lat is not None:
        args += [f"-GPSLatitude={abs(lat)}", f"-GPSLatitudeRef={'S' if lat < 0 else 'N'}"]
    if lon is not None:
        args += [f"-GPSLongitude={abs(lon)}", f"-GPSLongitudeRef={'W' if lon < 0 else 'E'}"]
    args += extra
    return with_exiftool(plain_image(fmt), fmt, *args)


def digital_source_type_xmp(value: str, form: str = "element") -> bytes:
    """A hand-written XMP packet declaring ``value`` in the three RDF spellings."""
    ns = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    if form == "attribute":
        body = f'<rdf:Description rdf:about="" {ns} Iptc4xmpExt:DigitalSourceType="{value}"/>'
    elif form == "resource":
        body = (
            f'<rdf:Description rdf:about="" {ns}>'
            f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{value}"/></rdf:Description>'
        )
    else:
        body = (
            f'<rdf:Description rdf:about="" {ns}>'
            f"<Iptc4xmpExt:DigitalSourceType>{value}</Iptc4xmpExt:DigitalSourceType>"
            "</rdf:Description>"
        )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">{body}</rdf:RDF>'
        '</x:xmpmeta><?xpacket end="w"?>'
    ).encode()


XXE_XMP: Final = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY a "trainedAlgorithmicMedia"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
<Iptc4xmpExt:DigitalSourceType>&a;&ext;</Iptc4xmpExt:DigitalSourceType>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
"""An XMP packet that only declares AI through entity expansion (and tries an external one)."""


def image_with_xmp(fmt: str, xmp: bytes) -> bytes:
    """``xmp`` embedded by Pillow (JPEG APP1, PNG iTXt, WebP XMP chunk, HEIF mime item)."""
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        return plain_image("PNG", pnginfo=info)
    return plain_image(fmt, xmp=xmp)


def srgb_icc() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return profile.tobytes()


# --- raw EXIF, byte by byte -----------------------------------------------------------------

_ASCII, _RATIONAL, _LONG = 2, 5, 4


@dataclass(frozen=True)
class Entry:
    tag: int
    kind: int
    value: bytes | tuple[tuple[int, int], ...] | int


def _tiff(ifd0: Sequence[Entry], gps: Sequence[Entry] | None) -> bytes:
    """A little-endian TIFF/EXIF block: IFD0 (plus a GPS IFD pointer) and an optional GPS IFD."""
    entries0 = list(ifd0)
    header = b"II*\x00" + struct.pack("<I", 8)

    def layout(entries: Sequence[Entry], start: int) -> tuple[bytes, int]:
        table = struct.pack("<H", len(entries))
        data_start = start + 2 + 12 * len(entries) + 4
        extra = b""
        for entry in entries:
            if isinstance(entry.value, int):
                payload = struct.pack("<I", entry.value)
                count = 1
            elif isinstance(entry.value, bytes):
                payload = entry.value
                count = len(payload)
            else:
                payload = b"".join(struct.pack("<II", n, d) for n, d in entry.value)
                count = len(entry.value)
            if len(payload) <= 4:
                field = payload.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", data_start + len(extra))
                extra += payload + (b"\x00" if len(payload) % 2 else b"")
            table += struct.pack("<HHI", entry.tag, entry.kind, count) + field
        return table + struct.pack("<I", 0) + extra, data_start + len(extra)

    if gps is None:
        block, _ = layout(entries0, 8)
        return header + block
    # The GPS IFD goes after IFD0; IFD0's size does not depend on the pointer's value.
    sized, end = layout([*entries0, Entry(0x8825, _LONG, 0)], 8)
    block0, _ = layout([*entries0, Entry(0x8825, _LONG, end)], 8)
    gps_block, _ = layout(list(gps), end)
    assert len(sized) == len(block0)
    return header + block0 + gps_block


def gps_exif(
    lat: tuple[tuple[int, int], ...],
    lon: tuple[tuple[int, int], ...],
    lat_ref: bytes | None = b"N\x00",
    lon_ref: bytes | None = b"E\x00",
) -> bytes:
    """EXIF with a GPS IFD holding exactly these rationals and refs (None: ref omitted)."""
    gps: list[Entry] = []
    if lat_ref is not None:
        gps.append(Entry(1, _ASCII, lat_ref))
    gps.append(Entry(2, _RATIONAL, lat))
    if lon_ref is not None:
        gps.append(Entry(3, _ASCII, lon_ref))
    gps.append(Entry(4, _RATIONAL, lon))
    return b"Exif\x00\x00" + _tiff([Entry(0x0110, _ASCII, b"Cam\x00")], gps)


def jpeg_with_segments(*segments: tuple[int, bytes], trailer: bytes = b"") -> bytes:
    """A plain JPEG with raw marker segments inserted after SOI (APPn, COM...)."""
    base = plain_image("JPEG")
    inserted = b"".join(
        bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body for marker, body in segments
    )
    return base[:2] + inserted + base[2:] + trailer


def jpeg_with_exif_payload(payload: bytes) -> bytes:
    """A JPEG whose APP1 Exif segment holds ``payload`` verbatim (hostile cases)."""
    return jpeg_with_segments((0xE1, payload))


HOSTILE_EXIF_PAYLOADS: Final = {
    "random-garbage": b"Exif\x00\x00" + bytes(range(256)) * 8,
    "bad-byte-order": b"Exif\x00\x00XX*\x00\x08\x00\x00\x00" + b"\xff" * 64,
    "ifd-offset-past-end": b"Exif\x00\x00II*\x00" + struct.pack("<I", 0x7FFFFFF0),
    "huge-entry-count": b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 0xFFFF) + b"\x01" * 40,
    "gps-pointer-to-nowhere": b"Exif\x00\x00"
    + _tiff([Entry(0x8825, _LONG, 0x00FFFFFF), Entry(0x8769, _LONG, 0x00FFFFF0)], None),
    "gps-pointer-loop": b"Exif\x00\x00" + _tiff([Entry(0x8825, _LONG, 8)], None),
    "entry-data-past-end": b"Exif\x00\x00"
    + _tiff([Entry(0x9003, _ASCII, b"2025:11:14 14:30:00\x00")], None)[:-12],
    "truncated-header": b"Exif\x00\x00II*",
    "empty": b"Exif\x00\x00",
}


# --- C2PA -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningMaterial:
    chain_pem: bytes
    """End-entity certificate followed by the root."""
    key_pem: bytes
    root_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plainsight tests"),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@functools.cache
def signing_material() -> SigningMaterial:
    """A throwaway ES256 root and C2PA-profile signing certificate (made once per run).

    c2pa-rs refuses self-signed signing certificates, hence the two-level chain.
    """
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Plainsight Test Root"))
        .issuer_name(_name("Plainsight Test Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Plainsight Test Signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningMaterial(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        root_pem=root.public_bytes(pem).decode(),
    )


def _c2pa() -> Any:
    import c2pa  # type: ignore[import-untyped]

    return c2pa


def c2pa_signed(
    fmt: str = "JPEG",
    *,
    source_type: str = "digitalCapture",
    remote_url: str | None = None,
) -> bytes:
    """A Pillow image signed with a C2PA manifest whose ``c2pa.created`` action declares
    ``IPTC_SOURCE_TYPE + source_type``. With ``remote_url`` the manifest is not embedded: the
    asset only carries an XMP reference to that URL."""
    c2pa = _c2pa()
    mime = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}[fmt]
    signer_files = signing_material()
    manifest = {
        "claim_generator_info": [{"name": "plainsight-tests", "version": "1"}],
        "title": f"fixture{SUFFIX[fmt]}",
        "format": mime,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC_SOURCE_TYPE + source_type,
                        }
                    ]
                },
            }
        ],
    }
    # Signing must not touch the network either: no TSA URL, and the reader-side settings.
    context = c2pa.Context.from_dict(
        {"verify": {"remote_manifest_fetch": False}, "core": {"allowed_network_hosts": []}}
    )
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(b"es256", signer_files.chain_pem, signer_files.key_pem, None)
    )
    try:
        builder = c2pa.Builder(manifest, context)
        if remote_url is not None:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        output = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(plain_image(fmt)), output)
        return output.getvalue()
    finally:
        signer.close()
        context.close()


def tamper_jpeg_pixels(data: bytes) -> bytes:
    """Flip bytes inside the entropy-coded scan (after the last SOS): the pixels change, the
    manifest does not."""
    sos = data.rfind(b"\xff\xda")
    assert sos > 0
    target = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big") + 8
    tampered = bytearray(data)
    tampered[target] ^= 0x5A if tampered[target] not in (0xFF, 0xA5) else 0x01
    return bytes(tampered)


FAKE_C2PA_APP11: Final = (
    b"JP\x00\x01\x00\x00\x00\x01"  # JPEG XT common identifier, instance, sequence
    + struct.pack(">I", 40)
    + b"jumb"
    + struct.pack(">I", 32)
    + b"jumd"
    + bytes.fromhex("6332706100110010800000aa00389b71")  # the "c2pa" store UUID
    + b"\x03c2pa\x00"
    + b"\xde\xad\xbe\xef" * 8
)
"""An APP11 JUMBF box labelled "c2pa" whose contents are garbage."""
