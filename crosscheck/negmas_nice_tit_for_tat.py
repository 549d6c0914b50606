# NegMAS 0.16.0's NiceTitForTatNegotiator against scripted offers: prints its offers and the
# offer it accepted, for the cases of core's test `it_plays_offer_for_offer_as_negmas_against_scripted_offers`
# (core/src/negotiation/nice.rs), which expects the same. Run with the venv crosscheck/negmas.sh
# makes: target/crosscheck-venv/bin/python crosscheck/negmas_nice_tit_for_tat.py
from negmas import SAOMechanism, make_issue
from negmas.preferences import LinearAdditiveUtilityFunction as U, TableFun
from negmas.gb.negotiators.titfortat import NiceTitForTatNegotiator
from negmas.sao import SAONegotiator, ResponseType
import json

def run(domain, script, n, reserved=0.0):
    issues = [make_issue(opts, name) for name, opts, _ in domain["issues"]]
    vals = {name: TableFun(dict(zip(opts, v))) for name, opts, v in domain["issues"]}
    me_u = U(values=vals, weights=dict(zip([i[0] for i in domain["issues"]], domain["weights"])), issues=issues, reserved_value=reserved)
    class Scripted(SAONegotiator):
        i = 0
        def propose(self, state, dest=None):
            o = tuple(script[min(self.i, len(script)-1)]); self.i += 1; return o
        def respond(self, state, source=None):
            return ResponseType.REJECT_OFFER
    m = SAOMechanism(issues=issues, n_steps=n)
    m.add(Scripted(name="op"), ufun=me_u)
    m.add(NiceTitForTatNegotiator(name="me"), ufun=me_u)
    m.run()
    mine = [o for (_, who, o) in m.extended_trace if who.startswith("me")]
    return mine, m.state.agreement

one = {"issues": [("scope", ["s0","s1","s2","s3","s4"], [1.0,0.75,0.5,0.25,0.0])], "weights": [1.0]}
two = {"issues": [("a", ["a0","a1","a2"], [1.0,0.5,0.0]), ("b", ["b0","b1","b2"], [0.0,0.25,1.0])], "weights": [0.75, 0.25]}
cases = [
  (one, [["s4"]]*20, 20, 0.0),
  (one, [["s4"],["s3"],["s4"],["s3"],["s3"],["s2"]] + [["s3"]]*14, 20, 0.0),
  (one, [["s4"]]*60, 50, 0.3),
  (one, [["s3"]]*10 + [["s2"]]*10, 20, 0.3),
  (two, [["a2","b0"],["a2","b1"],["a1","b0"],["a2","b0"],["a1","b1"],["a2","b2"]] + [["a2","b0"]]*14, 20, 0.0),
  (two, [["a2","b0"]]*3 + [["a1","b0"]]*3 + [["a0","b0"]]*14, 20, 0.2),
]
for d, script, n, r in cases:
    mine, agreement = run(d, script, n, r)
    print(json.dumps({"n": n, "reserved": r, "script": script[:n], "mine": mine, "agreement": agreement}))
