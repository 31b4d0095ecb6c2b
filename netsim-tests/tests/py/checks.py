"""Assertions shared by the Python drivers of the stand-in and the gateway tests."""
import xmlrpc.client as xc

checks = 0


def ok(cond, what):
    """Count a check; exit with FAILED and `what` when it does not hold."""
    global checks
    checks += 1
    if not cond:
        raise SystemExit("FAILED: " + what)


def fault(fn, code, text):
    """`fn()` must raise an XML-RPC fault with `code` whose string holds `text`."""
    try:
        fn()
    except xc.Fault as f:
        ok(f.faultCode == code, "fault code %r != %r (%s)" % (f.faultCode, code, f.faultString))
        ok(text in f.faultString, "%r not in %r" % (text, f.faultString))
        return f
    raise SystemExit("FAILED: no fault, expected %d %s" % (code, text))


def done():
    """The line the Rust side looks for."""
    print("OK %d checks" % checks)
