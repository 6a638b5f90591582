"""NumPy's protocols (NEP 13 ``__array_ufunc__``, NEP 18 ``__array_function__``) for gpuad
tensors: a NumPy function called on a gpuad tensor (a tracer included) runs gpuad's own
function, so the result is a gpuad tensor on the tensor's device, differentiable and
batchable. What NumPy calls gpuad does not implement raises ``GpuadTypeError``: a NumPy
function never computes silently on a concrete copy of a tensor.

The dispatch table is generated from what gpuad exports (``table()``): a NumPy ufunc maps
to the gpuad function of its ``__name__`` (or the alias in ``UFUNC_ALIASES``) taking as many
arrays; a NumPy function ``numpy[.linalg|.fft].NAME`` maps to ``gpuad[.linalg|.fft].NAME``
(or an override in ``_OVERRIDES`` where NumPy's semantics differ from gpuad's same-named
function) when the signatures agree: every parameter gpuad requires is one NumPy has (by
name, by a rename in ``PARAM_RENAMES``, or by position for the array arguments), and every
parameter NumPy requires is one gpuad takes. NumPy parameters gpuad lacks (``out``,
``order``, ``where``, ``initial``, ...) are accepted only at NumPy's default value.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from .core import TensorBase, Tracer, transform_name
from .errors import GpuadTypeError

# NumPy ufunc name -> gpuad function name, where they differ
UFUNC_ALIASES = {
    "absolute": "abs", "power": "pow", "true_divide": "divide", "conjugate": "conj",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
    "radians": "deg2rad", "degrees": "rad2deg",
}
# NumPy function name -> gpuad function name, where they differ
FUNC_ALIASES = {"amax": "max", "amin": "min", "around": "round"}
# NumPy parameter name -> gpuad parameter name
PARAM_RENAMES = {"a_min": "min", "a_max": "max", "ddof": "correction", "reps": "repetitions",
                 "newshape": "shape"}
# NumPy parameters that do not change the result: accepted and not passed on
IGNORED = {"optimize"}
# NumPy modules searched, and the gpuad module that answers each
MODULES = {"numpy": "gpuad", "numpy.linalg": "gpuad.linalg", "numpy.fft": "gpuad.fft"}
# those gpuad modules, given by ``gpuad`` itself when it installs the protocols
# (``install``): this module sits below the public namespace and does not import it
_NAMESPACES = {}


def _dot(x1, x2):
    """``np.dot``: a product for scalars, ``matmul`` up to a 2-D right operand, else the
    sum over the last axis of ``x1`` and the second-to-last of ``x2``."""
    ad = _NAMESPACES["gpuad"]
    a, b = ad.asarray(x1) if not _is_tensor(x1) else x1, ad.asarray(x2) if not _is_tensor(x2) else x2
    if a.ndim == 0 or b.ndim == 0:
        return ad.multiply(a, b)
    if b.ndim <= 2:
        return ad.matmul(a, b)
    return ad.tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


def _outer(x1, x2):
    """``np.outer`` flattens its inputs (gpuad's ``outer`` batches over leading dims)."""
    ad = _NAMESPACES["gpuad"]
    return ad.outer(ad.ravel(x1), ad.ravel(x2))


def _einsum(*operands):
    ad = _NAMESPACES["gpuad"]
    return ad.einsum(*operands)


def _is_tensor(x):
    return isinstance(x, TensorBase)


_OVERRIDES = {"numpy.dot": _dot, "numpy.outer": _outer, "numpy.einsum": _einsum}
# NumPy functions not dispatched although gpuad has a same-named function: gpuad's differs
# in meaning (not only in signature) from NumPy's
_EXCLUDED = set()


class _Entry:
    __slots__ = ("np_name", "fn", "np_sig", "ad_sig", "pmap")

    def __init__(self, np_name, fn, np_sig, ad_sig, pmap):
        self.np_name, self.fn, self.np_sig, self.ad_sig, self.pmap = np_name, fn, np_sig, ad_sig, pmap


_POS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARP = inspect.Parameter.VAR_POSITIONAL
_VARK = inspect.Parameter.VAR_KEYWORD


def _match(np_sig, ad_sig):
    """NumPy parameter name -> gpuad parameter name, or None when the signatures disagree."""
    nps = list(np_sig.parameters.values())
    ads = list(ad_sig.parameters.values())
    ad_names = {p.name for p in ads}
    np_names = {p.name for p in nps}
    pmap = {}
    ad_varkw = next((q.name for q in ads if q.kind == _VARK), None)
    for i, p in enumerate(nps):
        if p.kind == _VARK:
            if ad_varkw is not None:  # np.pad's **kwargs (constant_values=, ...)
                pmap[p.name] = ad_varkw
            continue
        if p.kind == _VARP:
            if i < len(ads) and ads[i].kind == _VARP:
                pmap[p.name] = ads[i].name
            elif p.default is inspect.Parameter.empty:
                return None
            continue
        target = PARAM_RENAMES.get(p.name, p.name)
        if target in ad_names and target not in pmap.values():
            pmap[p.name] = target
        elif (p.kind in _POS and i < len(ads) and ads[i].kind in _POS and ads[i].name not in np_names
              and ads[i].name not in pmap.values()):
            pmap[p.name] = ads[i].name
        elif p.default is inspect.Parameter.empty:
            return None  # NumPy requires an argument gpuad does not take
    covered = set(pmap.values())
    for p in ads:
        if p.kind not in (_VARP, _VARK) and p.default is inspect.Parameter.empty and p.name not in covered:
            return None  # gpuad requires an argument NumPy does not have
    return pmap


def _signature(f):
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def _ufunc_ok(uf, fn):
    sig = _signature(fn)
    if sig is None:
        return False
    ps = [p for p in sig.parameters.values() if p.kind in _POS]
    required = [p for p in ps if p.default is inspect.Parameter.empty]
    return len(required) <= uf.nin <= len(ps) and not any(
        p.kind == inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
        for p in sig.parameters.values())


_TABLE = None


def table(rebuild=False):
    """``(ufuncs, functions)``: NumPy ufunc ``__name__`` -> gpuad function, and
    ``"numpy[.linalg|.fft].NAME"`` -> ``_Entry``, generated from gpuad's namespace."""
    global _TABLE
    if _TABLE is not None and not rebuild:
        return _TABLE
    gpuad = _NAMESPACES["gpuad"]
    ufuncs = {}
    for name in sorted(dir(np)):
        uf = getattr(np, name)
        if not isinstance(uf, np.ufunc) or uf.__name__ in ufuncs or uf.nout != 1:
            continue
        fn = getattr(gpuad, UFUNC_ALIASES.get(uf.__name__, uf.__name__), None)
        if callable(fn) and not isinstance(fn, type) and _ufunc_ok(uf, fn):
            ufuncs[uf.__name__] = fn
    funcs = {}
    for np_mod_name, ad_mod_name in MODULES.items():
        np_mod = importlib.import_module(np_mod_name)
        ad_mod = _NAMESPACES[ad_mod_name]
        for name in sorted(dir(np_mod)):
            f = getattr(np_mod, name)
            if name.startswith("_") or isinstance(f, (np.ufunc, type)) or not callable(f):
                continue
            key = f"{getattr(f, '__module__', '')}.{getattr(f, '__name__', name)}"
            if key in funcs or key in _EXCLUDED or not key.startswith(np_mod_name + "."):
                continue
            fname = key[len(np_mod_name) + 1:]
            fn = _OVERRIDES.get(key) or getattr(ad_mod, FUNC_ALIASES.get(fname, fname), None)
            if not callable(fn) or isinstance(fn, (type, np.ufunc)) or inspect.ismodule(fn):
                continue
            np_sig, ad_sig = _signature(f), _signature(fn)
            if np_sig is None or ad_sig is None:
                continue
            if "like" in np_sig.parameters:
                continue  # a creation function: NumPy dispatches it only for like=
            pmap = _match(np_sig, ad_sig)
            if pmap is not None:
                funcs[key] = _Entry(key, fn, np_sig, ad_sig, pmap)
    _TABLE = (ufuncs, funcs)
    return _TABLE


def _transform_note(values):
    for v in values:
        if isinstance(v, Tracer):
            return f" (called on a value traced by {transform_name(v._trace)})"
    return ""


def _flat(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flat(v))
        else:
            out.append(v)
    return out


def _gpuad_name(np_name):
    short = np_name.rsplit(".", 1)[-1]
    return ("ad.linalg." if ".linalg." in np_name else "ad.fft." if ".fft." in np_name else "ad.") + short


def unimplemented(np_name, values, what="is not implemented by gpuad"):
    return GpuadTypeError(
        f"{np_name} {what}{_transform_note(_flat(values))}: NumPy would compute it on a concrete "
        "copy of the gpuad tensor and silently drop its derivative (and device), so gpuad refuses. "
        f"Write it with gpuad functions (ad.<name>, see docs/numpy.md for what dispatches), or "
        "convert explicitly with .numpy() outside transforms (x.detach().numpy() for a tensor "
        "that requires grad) to compute on a constant")


def _is_default(val, default):
    if val is default:
        return True
    if isinstance(val, (str, int, float, bool, type(None))) and isinstance(default, (str, int, float, bool, type(None))):
        return type(val) is type(default) and val == default
    return False


def array_function(func, args, kwargs):
    mod = getattr(func, "__module__", None) or "numpy"
    np_name = f"{mod}.{getattr(func, '__name__', repr(func))}"
    entry = table()[1].get(np_name)
    values = list(args) + list(kwargs.values())
    if entry is None:
        raise unimplemented(np_name, values)
    try:
        bound = entry.np_sig.bind(*args, **kwargs)
    except TypeError as e:
        raise GpuadTypeError(f"{np_name}: {e}") from None
    ad_params = entry.ad_sig.parameters
    given = {}
    varargs = ()
    varkw = {}
    for name, val in bound.arguments.items():
        p = entry.np_sig.parameters[name]
        if p.kind == _VARK:
            if val and name in entry.pmap:
                varkw = dict(val)  # gpuad's function takes them too, and checks them
            elif val:
                raise unimplemented(np_name, values, f"with argument(s) {', '.join(map(repr, val))} "
                                    "is not supported by gpuad")
            continue
        if val is np._NoValue or name in IGNORED:
            continue
        target = entry.pmap.get(name)
        if target is None:
            if _is_default(val, p.default):
                continue
            raise unimplemented(np_name, values, f"with argument {name}= is not supported by gpuad "
                                f"(use {_gpuad_name(np_name)} without it)")
        if p.kind == _VARP:
            varargs = tuple(val)
            continue
        if target in given:
            raise GpuadTypeError(f"{np_name}: {name}= and another argument both give gpuad's {target}")
        given[target] = val
    # NumPy defaults that differ from gpuad's (np.diagonal's axis1=0, axis2=1)
    for name, target in entry.pmap.items():
        p = entry.np_sig.parameters[name]
        if target in given or p.kind == _VARP or name in bound.arguments:
            continue
        q = ad_params[target]
        if p.default is inspect.Parameter.empty or p.default is np._NoValue:
            continue
        if q.default is inspect.Parameter.empty:
            if p.default is None:
                raise unimplemented(np_name, values, f"without {name} is not supported by gpuad")
            given[target] = p.default
        elif not _is_default(p.default, q.default):
            given[target] = p.default
    pos, kw = [], {}
    positional = True
    for q in ad_params.values():
        if q.kind == _VARP:
            pos.extend(varargs)
            positional = False
            continue
        if q.name not in given:
            if q.kind in _POS:
                positional = False
            continue
        if positional and q.kind in _POS:
            pos.append(given[q.name])
        else:
            kw[q.name] = given[q.name]
    return entry.fn(*pos, **kw, **varkw)


_UFUNC_KW_DEFAULTS = {"out": None, "dtype": None, "where": True, "casting": "same_kind", "order": "K",
                      "subok": True, "signature": None}


def array_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    if method != "__call__":
        raise unimplemented(f"numpy.{name}.{method}", inputs,
                            "(a ufunc method) is not implemented by gpuad; only calling the ufunc is")
    out = kwargs.get("out")
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise unimplemented(f"numpy.{name}", inputs, "with out= is not supported by gpuad (gpuad "
                            "tensors are not written in place; use the returned tensor)")
    for k, v in kwargs.items():
        if k == "out":
            continue
        if k not in _UFUNC_KW_DEFAULTS or not _is_default(v, _UFUNC_KW_DEFAULTS[k]):
            raise unimplemented(f"numpy.{name}", inputs, f"with argument {k}= is not supported by gpuad")
    fn = table()[0].get(name)
    if fn is None:
        return None
    return fn(*inputs)


def covered():
    """Sorted names of what dispatches: ufuncs as ``numpy.NAME``, then functions."""
    ufuncs, funcs = table()
    return sorted(f"numpy.{n}" for n in ufuncs), sorted(funcs)


def _numpy_names():
    """What NumPy has, by namespace: ``{"ufuncs": ufunc names, "numpy": ..., "numpy.linalg":
    ..., "numpy.fft": ...}``, each a sorted list of names as :func:`covered` spells them
    (the public callables other than types, defined in that module)."""
    names = {"ufuncs": sorted({f"numpy.{u.__name__}" for u in (getattr(np, n) for n in dir(np))
                               if isinstance(u, np.ufunc)})}
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        keys = set()
        for name in dir(mod):
            f = getattr(mod, name)
            if name.startswith("_") or isinstance(f, (np.ufunc, type)) or not callable(f):
                continue
            key = f"{getattr(f, '__module__', '')}.{getattr(f, '__name__', name)}"
            if key.startswith(mod_name + ".") and "." not in key[len(mod_name) + 1:]:
                keys.add(key)
        names[mod_name] = sorted(keys)
    return names


def coverage():
    """``{namespace: (covered names, all names)}`` for NumPy's ufuncs and the functions of
    ``numpy``, ``numpy.linalg`` and ``numpy.fft``: what a NumPy call on a gpuad tensor
    dispatches to gpuad."""
    ufuncs, funcs = covered()
    have = set(ufuncs) | set(funcs)
    return {ns: (sorted(n for n in names if n in have), names) for ns, names in _numpy_names().items()}


_COVERAGE_START = "<!-- numpy-coverage: generated by python -m gpuad.numpy_dispatch --coverage -->"
_COVERAGE_END = "<!-- numpy-coverage end -->"


def coverage_table():
    """The coverage table of docs/numpy.md (Markdown), generated from :func:`coverage`."""
    cov = coverage()
    label = {"ufuncs": "ufuncs (`np.sin`, `np.add`, ...)", "numpy": "functions `np.NAME`",
             "numpy.linalg": "`np.linalg`", "numpy.fft": "`np.fft`"}
    lines = [_COVERAGE_START, "",
             f"NumPy {np.__version__}: {sum(len(c) for c, _ in cov.values())} of "
             f"{sum(len(a) for _, a in cov.values())} of its functions dispatch to gpuad.", "",
             "| NumPy namespace | NumPy has | gpuad runs |", "|---|---:|---:|"]
    for ns, (c, a) in cov.items():
        lines.append(f"| {label[ns]} | {len(a)} | {len(c)} |")
    lines.append("")
    for ns, (c, a) in cov.items():
        prefix = "numpy." if ns in ("ufuncs", "numpy") else ns + "."
        lines.append(f"- {label[ns]}: " + ", ".join(f"`{n[len(prefix):]}`" for n in c))
    lines += ["", "(The counts include NumPy's creation functions, such as `np.zeros`: NumPy "
              "dispatches those only for `like=`, so they never reach gpuad; use `ad.zeros`.)",
              "", _COVERAGE_END]
    return "\n".join(lines) + "\n"


def update_doc(path):
    """Replace the generated coverage table in the Markdown file ``path``; returns whether
    the file changed."""
    from pathlib import Path
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    i, j = text.index(_COVERAGE_START), text.index(_COVERAGE_END) + len(_COVERAGE_END) + 1
    new = text[:i] + coverage_table() + text[j:]
    if new != text:
        p.write_text(new, encoding="utf-8")
    return new != text


def doc_table(path):
    """The generated coverage table as it stands in the Markdown file ``path``."""
    from pathlib import Path
    text = Path(path).read_text(encoding="utf-8")
    i, j = text.index(_COVERAGE_START), text.index(_COVERAGE_END) + len(_COVERAGE_END) + 1
    return text[i:j]


# -- the protocols on gpuad's values (docs/numpy.md) ----------------------------------
# A NumPy function or ufunc called on a gpuad tensor runs gpuad's own function: the
# result is a gpuad tensor, differentiable and batchable. What gpuad does not implement
# raises GpuadTypeError; it never converts. They are installed from here, the layer
# that knows gpuad's namespace, as the ops layer installs the operators.
def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    for x in inputs + tuple(kwargs.get("out") or ()):
        if (hasattr(type(x), "__array_ufunc__") and not isinstance(x, (np.ndarray, TensorBase))
                and not np.isscalar(x)):
            return NotImplemented  # NEP 13: a foreign array type decides
    out = array_ufunc(ufunc, method, inputs, kwargs)
    if out is not None:
        return out
    raise unimplemented(f"numpy.{ufunc.__name__}", inputs)


def _array_function(self, func, types, args, kwargs):
    if not all(issubclass(t, (np.ndarray, TensorBase)) for t in types):
        return NotImplemented  # NEP 18: an unknown array type takes part
    return array_function(func, args, kwargs)


def _array_namespace(self, api_version=None):
    return _NAMESPACES["gpuad"]


def install(namespaces):
    """Install NumPy's protocols on gpuad's values; ``namespaces`` maps the names in
    ``MODULES`` ("gpuad", "gpuad.linalg", "gpuad.fft") to those modules."""
    _NAMESPACES.update(namespaces)
    TensorBase.__array_ufunc__ = _array_ufunc
    TensorBase.__array_function__ = _array_function
    TensorBase.__array_namespace__ = _array_namespace


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m gpuad.numpy_dispatch",
                                 description="What NumPy calls on gpuad tensors dispatch to gpuad.")
    ap.add_argument("--coverage", action="store_true",
                    help="print the coverage table of docs/numpy.md (Markdown)")
    ap.add_argument("--update", metavar="FILE",
                    help="with --coverage: rewrite the generated table in FILE (docs/numpy.md)")
    args = ap.parse_args(argv)
    if args.coverage:
        if args.update:
            print(("updated " if update_doc(args.update) else "unchanged ") + args.update)
        else:
            print(coverage_table(), end="")
        return
    u, f = covered()
    print(f"ufuncs ({len(u)}): " + ", ".join(n[len("numpy."):] for n in u))
    print(f"functions ({len(f)}): " + ", ".join(n[len("numpy."):] for n in f))


if __name__ == "__main__":
    main()
