"""Identities (users, orgs, tokens) and the permission function `can`.

Actions: read-metadata, read-content, write, create-in-namespace, delete, manage-branches.
"""
import hashlib

from store import HubError

ORG_ROLES = ("no_access", "read", "contributor", "write", "admin")

MSG_BAD_TOKEN = "Invalid credentials in Authorization header"
MSG_NO_AUTH = "Invalid username or password."
MSG_DISABLED = "Access to this resource is disabled."
WRITE_PERMS = ("repo.write",)
READ_PERMS = ("repo.content.read", "repo.access.read", "repo.write")


def _hexid(kind, name):
    return hashlib.sha1(("%s:%s" % (kind, name)).encode()).hexdigest()[:24]


class Principal:
    """Who is calling: token is None for anonymous callers."""

    def __init__(self, user=None, token=None):
        self.user = user          # username or None
        self.token = token        # token dict from config or None

    @property
    def anonymous(self):
        return self.user is None

    @property
    def role(self):
        return self.token["role"] if self.token else None


class Identities:
    def __init__(self):
        self.users = {}   # name -> {"name", "fullname", "orgs": {org: role}}
        self.orgs = {}    # name -> {"name", "members": {user: role}}
        self.tokens = {}  # token string -> dict

    def load(self, cfg):
        self.users.clear()
        self.orgs.clear()
        self.tokens.clear()
        for u in cfg.get("users", []):
            name = u["name"]
            self.users[name] = {"name": name, "fullname": u.get("fullname", name.capitalize()),
                                "email": u.get("email", "%s@example.org" % name),
                                "isPro": bool(u.get("isPro", False)),
                                "orgs": dict(u.get("orgs", {}))}
            for org, role in u.get("orgs", {}).items():
                if role not in ORG_ROLES:
                    raise ValueError("bad org role %r" % role)
                self.orgs.setdefault(org, {"name": org, "members": {}})["members"][name] = role
        for o in cfg.get("orgs", []):
            name = o["name"] if isinstance(o, dict) else o
            self.orgs.setdefault(name, {"name": name, "members": {}})
        for i, t in enumerate(cfg.get("tokens", [])):
            d = dict(t)
            d.setdefault("displayName", "token%d" % i)
            d.setdefault("createdAt", "2026-01-01T00:00:00.000Z")
            self.tokens[t["token"]] = d

    def namespace_exists(self, ns):
        return ns in self.users or ns in self.orgs

    # ------------------------------------------------------------ authentication
    def authenticate(self, auth_header):
        """Returns a Principal; raises HubError(401) for unknown/expired tokens."""
        if not auth_header:
            return Principal()
        parts = auth_header.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise HubError(401, MSG_BAD_TOKEN)
        tok = self.tokens.get(parts[1].strip())
        if tok is None or tok.get("expired") or tok["user"] not in self.users:
            raise HubError(401, MSG_BAD_TOKEN)
        return Principal(tok["user"], tok)

    def whoami(self, p):
        u = self.users[p.user]
        orgs = []
        for org, role in sorted(u["orgs"].items()):
            orgs.append({"type": "org", "id": _hexid("org", org), "name": org,
                         "fullname": org.upper(), "email": None,
                         "avatarUrl": "/avatars/%s.svg" % org, "canPay": False,
                         "periodEnd": None, "isEnterprise": False, "roleInOrg": role})
        tok = p.token
        at = {"displayName": tok["displayName"], "role": tok["role"], "createdAt": tok["createdAt"]}
        if tok["role"] == "fineGrained":
            fg = tok.get("fineGrained", {})
            scoped = []
            for s in fg.get("scoped", []):
                ent = dict(s.get("entity", {}))
                ent.setdefault("_id", _hexid(ent.get("type", "user"), ent.get("name", "")))
                scoped.append({"entity": ent, "permissions": list(s.get("permissions", []))})
            at["fineGrained"] = {"canReadGatedRepos": bool(fg.get("canReadGatedRepos", False)),
                                 "global": list(fg.get("global", [])), "scoped": scoped}
        if "expiration" in tok:
            at["expiration"] = tok["expiration"]
        return {"type": "user", "id": _hexid("user", p.user), "name": p.user,
                "fullname": u["fullname"], "email": u["email"], "emailVerified": True,
                "isPro": u["isPro"], "canPay": False, "billingMode": "prepaid",
                "periodEnd": None, "avatarUrl": "/avatars/%s.svg" % p.user,
                "orgs": orgs, "auth": {"type": "access_token", "accessToken": at}}

    # ------------------------------------------------------------ authorisation
    def user_level(self, user, ns, repo=None):
        """What the *user* (ignoring the token) may do in a namespace/repo:
        'admin' | 'write' | 'read' | None."""
        if user is None:
            return None
        if user == ns:
            return "admin"
        role = self.orgs.get(ns, {}).get("members", {}).get(user)
        if role in ("admin", "write"):
            return role
        if role == "contributor":
            if repo is None or repo.get("creator") == user:
                return "write"
            return "read"
        if role == "read":
            return "read"
        return None

    def _fg_has(self, p, perms, ns, repo_id=None):
        fg = p.token.get("fineGrained", {})
        if any(x in fg.get("global", []) for x in perms):
            return True
        for s in fg.get("scoped", []):
            ent = s.get("entity", {})
            t, name = ent.get("type"), ent.get("name")
            if (t in ("user", "org") and name == ns) or (repo_id and name == repo_id and t not in ("user", "org")):
                if any(x in s.get("permissions", []) for x in perms):
                    return True
        return False

    def token_level(self, p, ns, repo=None):
        """Effective level of this token on the namespace/repo."""
        lvl = self.user_level(p.user, ns, repo)
        if lvl is None:
            return None
        role = p.role
        if role == "read":
            return "read"
        if role == "fineGrained":
            rid = repo["id"] if repo else None
            if self._fg_has(p, WRITE_PERMS, ns, rid) and lvl in ("write", "admin"):
                return lvl
            if self._fg_has(p, READ_PERMS, ns, rid):
                return "read"
            return None
        return lvl

    def visible(self, p, repo):
        if not repo["private"]:
            return True
        if p.anonymous:
            return False
        return self.token_level(p, repo["author"], repo) is not None

    def not_found(self, p, what="Repository not found"):
        if p.anonymous:
            return HubError(401, what, "RepoNotFound", {"WWW-Authenticate": 'Bearer realm="hubsim"'})
        return HubError(404, what, "RepoNotFound")

    def check(self, p, repo, action, ns=None):
        """Raise HubError unless principal p may perform `action` on repo
        (or, for create-in-namespace, in namespace ns)."""
        if action == "create-in-namespace":
            if p.anonymous:
                raise HubError(401, MSG_NO_AUTH)
            if not self.namespace_exists(ns):
                raise HubError(404, "Namespace %s not found" % ns)
            if self.token_level(p, ns) not in ("write", "admin"):
                raise HubError(403, 'You don\'t have the rights to create a repo under the namespace "%s"' % ns)
            return
        if repo is None or not self.visible(p, repo):
            raise self.not_found(p)
        if repo.get("disabled"):
            raise HubError(403, MSG_DISABLED)
        if action == "read-metadata":
            return
        label = "%s %s" % (repo["type"], repo["id"])
        if action == "read-content":
            if not repo.get("gated"):
                return
            if not p.anonymous and self.user_level(p.user, repo["author"], repo) is not None:
                return  # members/owners always see their namespace's gated repos
            if p.anonymous:
                raise HubError(401, "Access to %s is restricted. You must have access to it and be "
                                    "authenticated to access it. Please log in." % label, "GatedRepo",
                               {"WWW-Authenticate": 'Bearer realm="hubsim"'})
            grant = repo.get("grants", {}).get(p.user)
            if p.role == "fineGrained" and not p.token.get("fineGrained", {}).get("canReadGatedRepos", False):
                raise HubError(403, "Access to %s is restricted: this fine-grained token cannot read "
                                    "gated repos." % label, "GatedRepo")
            if grant == "accepted":
                return
            if grant == "pending":
                raise HubError(403, "Your request to access %s is awaiting a review from the repo "
                                    "authors." % label, "GatedRepo")
            raise HubError(403, "Access to %s is restricted and you are not in the authorized list. "
                                "Visit the repo page to ask for access." % label, "GatedRepo")
        if action in ("write", "manage-branches", "delete", "settings"):
            if p.anonymous:
                raise HubError(401, MSG_NO_AUTH)
            lvl = self.token_level(p, repo["author"], repo)
            if action in ("delete", "settings"):
                ok = lvl in ("write", "admin")
            else:
                ok = lvl in ("write", "admin")
            if not ok:
                raise HubError(403, "You don't have the rights to %s %s" % (
                    {"write": "write to", "manage-branches": "manage branches of",
                     "delete": "delete", "settings": "change the settings of"}[action], label))
            return
        raise ValueError(action)
