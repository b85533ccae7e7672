"""OPC UA server sink (asyncua): the station as an OPC UA server a PLC or SCADA reads.

Objects/AoiStation (namespace `urn:aoi-station`) holds LastVerdict, Score, Margin, FrameId, Inspected,
OkCount, NgCount, Recipe, RecipeVersion, Alarm, AlarmText, LastResultJson and a method
SwitchRecipe(name, pin) -> text, which calls the station's `switch_recipe` (the window loads the recipe
on its own thread; the method answers at once with what was asked). Switching a recipe is the
engineer's (#15): once the station has a PIN (`aoi roles set-pin`), `pin` must be the engineer's or
the administrator's; on a station without PINs roles are off and any PIN is accepted.

Transport security (`?security=`): `none` (default; a NoSecurity endpoint for an isolated cell network),
`sign` or `sign_encrypt` (Basic256Sha256; the NoSecurity endpoint is then not offered). With security
the server uses its own certificate, made self-signed on first start in `<station home>/opcua/`
(`server-cert.der`, `server-key.pem`; made again when invalid or expired), and accepts only the clients
whose certificates lie in `<station home>/opcua/trusted/` (DER or PEM; read again when they change). A
refused client's certificate is kept in `opcua/rejected/`: moving it to `trusted/` admits that client.

The server runs on its own asyncio loop thread (it must answer clients between results); the sink's
thread only posts node updates to that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspection_core.runtime.home import station_home
from inspection_core.runtime.roles import Role, RoleError, RoleStore
from inspection_core.sinks.base import Delivery, Sink

_log = logging.getLogger(__name__)
NAMESPACE = "urn:aoi-station"
OBJECT = "AoiStation"
DEFAULT_PORT = 4840
SECURITY_MODES = ("none", "sign", "sign_encrypt")
RecipeSwitcher = Callable[[str], str]


class TrustFolder:
    """The secure server's client check (an asyncua certificate validator) over `<folder>/trusted/`:
    read again whenever its files change, so a certificate the engineer adds works at the client's
    next try without a restart; a refused client's certificate is kept in `<folder>/rejected/` (named
    by its SHA-1 thumbprint, as OPC UA tools show it) to be moved into `trusted/` once approved."""

    def __init__(self, folder: Path) -> None:
        self.trusted, self.rejected = folder / "trusted", folder / "rejected"
        self._seen: list[tuple[str, int]] | None = None
        self._validator: Any = None  # None: nobody is trusted (asyncua cannot build an empty store)

    def _files(self) -> list[tuple[str, int]]:
        return sorted(
            (f.name, f.stat().st_mtime_ns)
            for f in self.trusted.glob("*.*")
            if f.suffix.lower() in (".der", ".pem")
        )

    async def reload(self) -> None:
        """Read `trusted/` if it changed; ValueError naming the folder when a file there is broken."""
        from asyncua.crypto.truststore import TrustStore
        from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

        files = self._files()
        if files == self._seen:
            return
        self._seen, self._validator = files, None
        if not files:
            return
        store = TrustStore([self.trusted], [])
        try:
            await store.load()
        except Exception as exc:  # noqa: BLE001 - a broken file: say which folder, in one line
            raise ValueError(f"cannot read the trusted client certificates in {self.trusted}: {exc}") from exc
        options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        self._validator = CertificateValidator(options, store)

    async def __call__(self, cert: Any, app_description: Any) -> None:
        from asyncua import ua
        from asyncua.common.utils import ServiceError
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            try:
                await self.reload()
            except ValueError as exc:  # changed while running and now broken: refuse, say why
                _log.error("%s", exc)
                raise ServiceError(ua.StatusCodes.BadCertificateUntrusted) from exc
            if self._validator is None:
                raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
            await self._validator.validate(cert, app_description)
        except ServiceError as exc:
            if exc.code == ua.StatusCodes.BadCertificateUntrusted:
                with contextlib.suppress(OSError):  # keeping a copy must never decide the answer
                    self.rejected.mkdir(parents=True, exist_ok=True)
                    name = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - OPC UA's thumbprint
                    (self.rejected / f"{name}.der").write_bytes(cert.public_bytes(Encoding.DER))
                _log.warning("OPC UA client refused (certificate not trusted): kept in %s", self.rejected)
            raise


class OpcUaSink(Sink):
    """`opcua://HOST:PORT[?security=none|sign|sign_encrypt]` (HOST 0.0.0.0 for every interface).
    `switch_recipe(name)` returns a line for the client ("switching to …" or why not); without it
    SwitchRecipe says it is not available. `cert_dir`: where the server's certificate and the trusted
    client certificates live (default `<station home>/opcua`)."""

    scheme = "opcua"

    def __init__(
        self,
        url: str,
        station: str,
        switch_recipe: RecipeSwitcher | None = None,
        start_timeout_s: float = 30.0,
        roles: RoleStore | None = None,
        cert_dir: Path | None = None,
    ) -> None:
        super().__init__(url)
        u = urllib.parse.urlsplit(url)
        if u.scheme != "opcua" or not u.hostname:
            raise ValueError(f"not an opcua://host:port URL: {url!r}")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        self.security = query.pop("security", "none").lower()
        if self.security not in SECURITY_MODES or query:
            raise ValueError(f"opcua URL options: security={'|'.join(SECURITY_MODES)} (got {u.query!r})")
        self.cert_dir = cert_dir
        self.host, self.port = u.hostname, u.port or DEFAULT_PORT
        self.endpoint = f"opc.tcp://{self.host}:{self.port}/aoi/"
        self.station = station
        self.switch_recipe = switch_recipe
        self.roles = roles  # None: the station home's roles.json, read at each call
        self.start_timeout_s = start_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.nodes: dict[str, Any] = {}
        self._counts = {"Inspected": 0, "OkCount": 0, "NgCount": 0}

    # --- the server's loop -----------------------------------------------------------------------------
    def _call(self, coro: Any, timeout: float = 5.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        from asyncua import Server, ua

        for name in ("asyncua", "asyncua.server"):  # its INFO/WARNING chatter is not the station's
            logging.getLogger(name).setLevel(logging.ERROR)
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"aoi-station {self.station}")
        if self.security == "none":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            await self._secure(server)
        idx = await server.register_namespace(NAMESPACE)
        obj = await server.nodes.objects.add_object(idx, OBJECT)
        V = ua.VariantType
        spec = {
            "Station": (self.station, V.String),
            "LastVerdict": ("", V.String),
            "Score": (0.0, V.Double),
            "Margin": (0.0, V.Double),
            "FrameId": (-1, V.Int64),
            "Inspected": (0, V.UInt64),
            "OkCount": (0, V.UInt64),
            "NgCount": (0, V.UInt64),
            "Recipe": ("", V.String),
            "RecipeVersion": (0, V.Int32),
            "Alarm": (False, V.Boolean),
            "AlarmText": ("", V.String),
            "LastResultJson": ("", V.String),
        }
        for name, (value, vtype) in spec.items():
            self.nodes[name] = await obj.add_variable(idx, name, ua.Variant(value, vtype))

        async def switch(parent: Any, name: Any, pin: Any) -> list[Any]:
            text, pin = str(getattr(name, "Value", name)), str(getattr(pin, "Value", pin))
            answer = await asyncio.get_running_loop().run_in_executor(None, self._switch, text, pin)
            return [ua.Variant(answer, V.String)]

        self.nodes["SwitchRecipe"] = await obj.add_method(
            idx, "SwitchRecipe", switch, [V.String, V.String], [V.String]
        )
        await server.start()
        self._server = server
        self._types = spec

    @property
    def certificates(self) -> Path:
        """The folder of the server's certificate and key, and of `trusted/` client certificates."""
        return self.cert_dir if self.cert_dir is not None else station_home() / "opcua"

    async def _secure(self, server: Any) -> None:
        """Basic256Sha256 (sign, or sign and encrypt) only, with this station's certificate (made on
        first use), and only the clients whose certificates are in `trusted/`."""
        from asyncua import ua
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        folder = self.certificates
        (folder / "trusted").mkdir(parents=True, exist_ok=True)
        key, cert = folder / "server-key.pem", folder / "server-cert.der"
        uri = f"urn:aoi-station:{self.station}"
        await server.set_application_uri(uri)
        await setup_self_signed_certificate(
            key,
            cert,
            uri,
            socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH],
            {"commonName": f"aoi-station {self.station}", "organizationName": "aoi-station"},
        )
        P = ua.SecurityPolicyType
        mode = P.Basic256Sha256_Sign if self.security == "sign" else P.Basic256Sha256_SignAndEncrypt
        server.set_security_policy([mode])
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        gate = TrustFolder(folder)
        await gate.reload()  # a broken file fails the start with a line naming the folder
        server.set_certificate_validator(gate)

    def _switch(self, name: str, pin: str) -> str:
        """(A worker thread: a PIN check is ~50 ms of scrypt.) The answer SwitchRecipe returns."""
        if self.switch_recipe is None:
            return "recipe switching is not available on this station"
        try:
            store = self.roles if self.roles is not None else RoleStore()
            if store.any_pin() and not store.verify(Role.ENGINEER, pin):
                return "refused: switching the recipe needs the engineer's PIN"
            return self.switch_recipe(name)
        except RoleError as exc:
            return f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - a client's bad request must not end the server
            return f"cannot switch to {name}: {exc}"

    async def _write(self, values: dict[str, Any]) -> None:
        from asyncua import ua

        for name, value in values.items():
            await self.nodes[name].write_value(ua.Variant(value, self._types[name][1]))

    def open(self) -> None:
        if self._server is not None:
            return
        self.close()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aoi-opcua", daemon=True)
        self._thread.start()
        try:
            self._call(self._start(), self.start_timeout_s)
        except BaseException:
            self.close()
            raise

    def send(self, delivery: Delivery) -> None:
        m = delivery.message
        if delivery.kind == "status":
            values: dict[str, Any] = {"Alarm": bool(m.get("alarm")), "AlarmText": m.get("alarm") or ""}
            if m.get("recipe") is not None:
                values["Recipe"] = m["recipe"]
                values["RecipeVersion"] = int(m.get("recipe_version") or 0)
        else:
            c = self._counts
            if delivery.kind == "result":
                c["Inspected"] += 1
                c["NgCount" if m["verdict"] == "NG" else "OkCount"] += 1
            values = {
                **c,
                "LastVerdict": m["verdict"],
                "Score": float(m["score"]) if m["score"] is not None else float("nan"),
                "Margin": float(m["margin"]) if m["margin"] is not None else float("nan"),
                "FrameId": int(m["frame_id"]),
                "Recipe": m["recipe"] or "",
                "RecipeVersion": int(m["recipe_version"] or 0),
                "LastResultJson": delivery.data.decode(),
            }
        self._call(self._write(values))

    def close(self) -> None:
        loop, server, thread = self._loop, self._server, self._thread
        self._server = None
        if loop is not None and server is not None:
            with contextlib.suppress(Exception):  # stopping a broken server: the loop ends anyway
                self._call(server.stop(), 5.0)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5.0)
            loop.close()
        self._loop = self._thread = None
