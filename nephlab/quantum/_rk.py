"""A lean adaptive explicit Runge–Kutta loop for density matrices (one system; vmap for batches).

The Butcher tableaus (Dormand–Prince 5(4) and Tsitouras 5(4)) are diffrax's coefficients, written
out here as literals (a test checks them against diffrax bit for bit), so a solve does not import
diffrax, which costs about 0.3–0.6 s in a fresh process. Hairer's 8(5,3) pair (DOP853) is SciPy's
``scipy.integrate._ivp.dop853_coefficients``, likewise written out and checked bit for bit, with
its combined 5th/3rd-order error estimator and its 7th-order dense output (three more stages,
evaluated only in steps that contain a saved time); Verner's efficient 7(6) pair is QuTiP's
``qutip.solver.integrator.verner7efficient``, with its 7th-order interpolant (five more stages).

The loop itself is ours because the master equation wants things a general ODE library does not do
by default:

* **exact right-hand-side counts** in the statistics;
* **dense output** at the saved times from the stages already computed (4th-order continuous
  extensions), so saving 101 points costs no extra steps;
* **materialised stages**: each stage value is computed once and stored. Left to itself XLA's CPU
  fusion re-evaluates a stage sum inside every shifted read of the banded right-hand side.

The local error is measured in the weighted RMS norm of Hairer, Nørsett & Wanner,
``sqrt(mean((err / (atol + rtol * max(|y|, |y_new|)))²))`` over the real and imaginary parts of all
entries, the same convention as QuTiP, diffrax and dynamiqs, so tolerances mean the same thing
side by side. The step-size controller is the PI controller of Hairer, Nørsett & Wanner (II, IV.2)
with the coefficients of their DOPRI5 code: ``h_new = h · 0.9 · en^(-(1/q - 0.75 β)) · en_prev^β``
with β = 0.04 and q the tableau's order, factors limited to [0.2, 10] (after a rejection,
``0.9 · en^(-1/q)``, at most 1). In steady stepping it settles where ``en ≈ 0.9^(1/0.13) ≈ 0.44``,
close to the pure I-controller of diffrax/dynamiqs (``en ≈ 0.53``), while keeping the PI term's
damping of step-size oscillations. DOP853 and Vern7 keep the I controller of Hairer's DOP853 and
SciPy (β = 0; q = 8 and 7): they settle at ``en ≈ 0.9^8 ≈ 0.43`` and ``0.9^7 ≈ 0.48``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from ._jit import classic_emitter


PI_BETA = 0.04  # Hairer, Nørsett & Wanner's DOPRI5 code: the weight of the previous error norm


@dataclass(frozen=True)
class Tableau:
    """An explicit embedded pair with the First-Same-As-Last property and its continuous extension.

    ``s = len(a) + 1`` stages; the last one is evaluated at the new solution (``a[-1]`` equals
    ``b``) and is the next step's first stage, so a step costs ``len(a)`` evaluations.
    """

    name: str
    a: tuple  # lower-triangular rows for stages 2..s; a[-1] = b
    b: tuple  # s weights (the s-th stage is the FSAL derivative at the new point)
    e: tuple  # s error weights
    c: tuple  # s nodes
    dense: Callable  # dense(theta, b) -> s + len(a_extra) weights b_i(θ), y(t + θh) = y + h Σ b_i(θ) k_i
    order: int = 5  # q of the controller (error ~ h^q): 5 for the 5(4) pairs, 8 for DOP853, 7 for Vern7
    e3: tuple | None = None  # DOP853: 3rd-order error weights of the combined estimator (else None)
    a_extra: tuple = ()  # rows of the stages that only the dense output needs (over all earlier stages)
    c_extra: tuple = ()
    pi_beta: float = PI_BETA  # the PI controller's weight of the previous error norm (0: I controller)

    @property
    def rhs_per_step(self) -> int:
        """Right-hand-side evaluations of one trial step (the dense output's extra stages apart)."""
        return len(self.a)


def from_diffrax(solver_cls, dense: Callable) -> Tableau:
    """The tableau of a diffrax solver class (``diffrax.Tsit5``, ``diffrax.Dopri5``) with ``dense``."""
    tb = solver_cls.tableau
    a = tuple(tuple(float(x) for x in row) for row in tb.a_lower)
    return Tableau(
        name=solver_cls.__name__.lower(), a=a, b=tuple(float(x) for x in tb.b_sol),
        e=tuple(float(x) for x in tb.b_error), c=(0.0,) + tuple(float(x) for x in tb.c), dense=dense,
    )


def _tsit5_dense(t, b: tuple):
    """Tsitouras (2011), the interpolant of his 5(4) pair."""
    return [
        -1.0530884977290216 * t * (t - 1.3299890189751412) * (t * t - 1.4364028541716351 * t + 0.7139816917074209),
        0.1017 * t * t * (t * t - 2.1966568338249754 * t + 1.2949852507374631),
        2.490627285651252793 * t * t * (t * t - 2.38535645472061657 * t + 1.57803468208092486),
        -16.54810288924490272 * (t - 1.21712927295533244) * (t - 0.61620406037800089) * t * t,
        47.37952196281928122 * (t - 1.203071208372362603) * (t - 0.658047292653547382) * t * t,
        -34.87065786149660974 * (t - 1.2) * (t - 0.666666666666666667) * t * t,
        2.5 * (t - 1.0) * (t - 0.6) * t * t,
    ]


# Dormand–Prince: Shampine's 4th-order continuous extension as used in Hairer's DOPRI5.
_DOPRI_D = (-12715105075.0 / 11282082432.0, 0.0, 87487479700.0 / 32700410799.0,
            -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
            -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)


def _dopri5_dense(t, b: tuple):
    """y(θ) = y0 + θ r2 + θ(1-θ)(r3 + θ(r4 + (1-θ) r5)) with (per unit h)
    r2 = Σ b_i k_i, r3 = k1 - r2, r4 = r2 - k7 - r3, r5 = Σ d_i k_i."""
    s = 1.0 - t
    out = []
    for i in range(7):
        r2 = b[i]
        k1 = 1.0 if i == 0 else 0.0
        k7 = 1.0 if i == 6 else 0.0
        r3 = k1 - r2
        r4 = r2 - k7 - r3
        r5 = _DOPRI_D[i]
        out.append(t * r2 + t * s * (r3 + t * (r4 + s * r5)))
    return out


# diffrax 0.7's ``Tsit5.tableau`` and ``Dopri5.tableau`` (a_lower, b_sol, b_error, c), as the shortest
# round-tripping reprs of its float64 values (tests/test_mesolve_reference.py compares them with diffrax).
_TSIT5 = dict(
    a=((0.161,),
       (-0.008480655492356989, 0.335480655492357),
       (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
       (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
       (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383),
       (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774)),
    b=(0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0.0),
    e=(0.0017800110522257773, 0.0008164344596567463, -0.007880878010261994, 0.1447110071732629,
       -0.5823571654525552, 0.45808210592918686, -0.015151515151515152),
    c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0),
)
_DOPRI5 = dict(
    a=((0.2,),
       (0.075, 0.225),
       (0.9777777777777777, -3.7333333333333334, 3.5555555555555554),
       (2.9525986892242035, -11.595793324188385, 9.822892851699436, -0.2908093278463649),
       (2.8462752525252526, -10.757575757575758, 8.906422717743473, 0.2784090909090909, -0.2735313036020583),
       (0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096)),
    b=(0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096,
       0.0),
    e=(0.0008217592592592582, 0.0, -0.002835180193670739, 0.024652777777777746, -0.03390919811320753,
       0.02793650793650794, -0.016666666666666666),
    c=(0.0, 0.2, 0.3, 0.8, 0.8888888888888888, 1.0, 1.0),
)


# Hairer's DOP853, SciPy 1.17's ``scipy.integrate._ivp.dop853_coefficients`` as the shortest
# round-tripping reprs of its float64 values (tests/test_rk_dop853.py compares them with SciPy).
class _DOP853:
    A = (
        (0.05260015195876773,),
        (0.0197250569845379, 0.0591751709536137),
        (0.02958758547680685, 0.0, 0.08876275643042054),
        (0.2413651341592667, 0.0, -0.8845494793282861, 0.924834003261792),
        (0.037037037037037035, 0.0, 0.0, 0.17082860872947386, 0.12546768756682242),
        (0.037109375, 0.0, 0.0, 0.17025221101954405, 0.06021653898045596, -0.017578125),
        (0.03709200011850479, 0.0, 0.0, 0.17038392571223998, 0.10726203044637328, -0.015319437748624402,
         0.008273789163814023),
        (0.6241109587160757, 0.0, 0.0, -3.3608926294469414, -0.868219346841726, 27.59209969944671,
         20.154067550477894, -43.48988418106996),
        (0.47766253643826434, 0.0, 0.0, -2.4881146199716677, -0.590290826836843, 21.230051448181193,
         15.279233632882423, -33.28821096898486, -0.020331201708508627),
        (-0.9371424300859873, 0.0, 0.0, 5.186372428844064, 1.0914373489967295, -8.149787010746927,
         -18.52006565999696, 22.739487099350505, 2.4936055526796523, -3.0467644718982196),
        (2.273310147516538, 0.0, 0.0, -10.53449546673725, -2.0008720582248625, -17.9589318631188, 27.94888452941996,
         -2.8589982771350235, -8.87285693353063, 12.360567175794303, 0.6433927460157636),
    )
    B = (0.054293734116568765, 0.0, 0.0, 0.0, 0.0, 4.450312892752409, 1.8915178993145003, -5.801203960010585,
         0.3111643669578199, -0.1521609496625161, 0.20136540080403034, 0.04471061572777259)
    C = (0.0, 0.05260015195876773, 0.0789002279381516, 0.1183503419072274, 0.2816496580927726, 0.3333333333333333,
         0.25, 0.3076923076923077, 0.6512820512820513, 0.6, 0.8571428571428571, 1.0)
    E5 = (0.01312004499419488, 0.0, 0.0, 0.0, 0.0, -1.2251564463762044, -0.4957589496572502, 1.6643771824549864,
          -0.35032884874997366, 0.3341791187130175, 0.08192320648511571, -0.022355307863886294, 0.0)
    E3 = (-0.18980075407240762, 0.0, 0.0, 0.0, 0.0, 4.450312892752409, 1.8915178993145003, -5.801203960010585,
          -0.4226823213237919, -0.1521609496625161, 0.20136540080403034, 0.02265179219836082, 0.0)
    A_EXTRA = (
        (0.056167502283047954, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25350021021662483, -0.2462390374708025,
         -0.12419142326381637, 0.15329179827876568, 0.00820105229563469, 0.007567897660545699, -0.008298),
        (0.03183464816350214, 0.0, 0.0, 0.0, 0.0, 0.028300909672366776, 0.053541988307438566, -0.05492374857139099,
         0.0, 0.0, -0.00010834732869724932, 0.0003825710908356584, -0.00034046500868740456, 0.1413124436746325),
        (-0.42889630158379194, 0.0, 0.0, 0.0, 0.0, -4.697621415361164, 7.683421196062599, 4.06898981839711,
         0.3567271874552811, 0.0, 0.0, 0.0, -0.0013990241651590145, 2.9475147891527724, -9.15095847217987),
    )
    C_EXTRA = (0.1, 0.2, 0.7777777777777778)
    D = (
        (-8.428938276109013, 0.0, 0.0, 0.0, 0.0, 0.5667149535193777, -3.0689499459498917, 2.38466765651207,
         2.117034582445028, -0.871391583777973, 2.2404374302607883, 0.6315787787694688, -0.08899033645133331,
         18.148505520854727, -9.194632392478356, -4.436036387594894),
        (10.427508642579134, 0.0, 0.0, 0.0, 0.0, 242.28349177525817, 165.20045171727028, -374.5467547226902,
         -22.113666853125306, 7.733432668472264, -30.674084731089398, -9.332130526430229, 15.697238121770845,
         -31.139403219565178, -9.35292435884448, 35.81684148639408),
        (19.985053242002433, 0.0, 0.0, 0.0, 0.0, -387.0373087493518, -189.17813819516758, 527.8081592054236,
         -11.57390253995963, 6.8812326946963, -1.0006050966910838, 0.7777137798053443, -2.778205752353508,
         -60.19669523126412, 84.32040550667716, 11.99229113618279),
        (-25.69393346270375, 0.0, 0.0, 0.0, 0.0, -154.18974869023643, -231.5293791760455, 357.6391179106141,
         93.40532418362432, -37.45832313645163, 104.0996495089623, 29.8402934266605, -43.53345659001114,
         96.32455395918828, -39.17726167561544, -149.72683625798564),
    )


def _dop853_dense(t, b: tuple):
    """Hairer's 7th-order dense output of DOP853 (SciPy's ``Dop853DenseOutput``), as weights of the
    16 stages ``k_1..k_12``, ``k_13 = f(t + h, y_new)`` and the three extra stages:
    ``y(θ) = y + θ(F0 + (1-θ)(F1 + θ(F2 + (1-θ)(F3 + θ(F4 + (1-θ)(F5 + θ F6))))))`` with (per unit h)
    ``F0 = Σ b k``, ``F1 = k_1 - F0``, ``F2 = 2 F0 - k_13 - k_1``, ``F3..F6 = D k``."""
    s = 1.0 - t
    out = []
    for i in range(16):
        f0 = b[i] if i < 12 else 0.0
        k1 = 1.0 if i == 0 else 0.0
        k13 = 1.0 if i == 12 else 0.0
        F = (f0, k1 - f0, 2.0 * f0 - k13 - k1) + tuple(row[i] for row in _DOP853.D)
        acc = F[6]
        for j in range(5, -1, -1):
            acc = F[j] + (t if j % 2 == 1 else s) * acc
        out.append(t * acc)
    return out


@lru_cache(maxsize=None)
def dop853_tableau() -> Tableau:
    """Hairer's 8(5,3) pair DOP853 (SciPy's coefficients) with its combined error estimator, its
    7th-order dense output and the step-size control of Hairer's and SciPy's codes (``β = 0``)."""
    d = _DOP853
    return Tableau(name="dop853", a=d.A + (d.B,), b=d.B + (0.0,), e=d.E5, e3=d.E3, c=d.C + (1.0,),
                   dense=_dop853_dense, order=8, a_extra=d.A_EXTRA, c_extra=d.C_EXTRA, pi_beta=0.0)


# Verner's "most efficient" 7(6) pair with its 7th-order interpolant, QuTiP 5.3's
# ``qutip.solver.integrator.verner7efficient`` (transcribed there from Verner's published
# RKV76.IIa coefficients) as the shortest round-tripping reprs of its float64 values
# (tests/test_rk_dop853.py compares them with QuTiP). The 10 stages are not FSAL; stage 11 of
# the interpolant is f(t + h, y_new), which here is the next step's first stage.
class _VERN7:
    A = (
        (0.005,),
        (-1.07679012345679, 1.185679012345679),
        (0.04083333333333333, 0.0, 0.1225),
        (0.6389139236255726, 0.0, -2.455672638223657, 2.272258714598084),
        (-2.6615773750187572, 0.0, 10.804513886456137, -8.3539146573962, 0.820487594956657),
        (6.067741434696771, 0.0, -24.711273635911084, 20.427517930788895, -1.9061579788166472, 1.006172249242068),
        (12.054670076253203, 0.0, -49.75478495046899, 41.142888638604674, -4.461760149974004, 2.042334822239175,
         -0.09834843665406108),
        (10.138146522881808, 0.0, -42.6411360317175, 35.76384003992257, -4.3480228403929075, 2.0098622683770357,
         0.3487490460338272, -0.27143900510483127),
        (-45.030072034298676, 0.0, 187.3272437654589, -154.02882369350186, 18.56465306347536, -7.141809679295079,
         1.3088085781613785, 0.0, 0.0),
    )
    B = (0.04715561848627222, 0.0, 0.0, 0.25750564298434153, 0.2621665397741262, 0.15216092656738558,
         0.49399691700324844, -0.29430311714032503, 0.0813174723249511, 0.0)
    BH = (0.044608606606341174, 0.0, 0.0, 0.26716403785713727, 0.2201018300177293, 0.2188431703143157,
          0.22898717054112028, 0.0, 0.0, 0.020295184663356284)
    C = (0.0, 0.005, 0.10888888888888888, 0.16333333333333333, 0.4555, 0.6095094489978381, 0.884, 0.925, 1.0, 1.0)
    A_EXTRA = (
        (0.0523222769159969, 0.0, 0.0, 0.22495861826705715, 0.017443709248776376, -0.007669379876829393,
         0.03435896044073285, -0.0410209723009395, 0.025651133005205617, 0.0, -0.0160443457),
        (0.053053341257859085, 0.0, 0.0, 0.12195301011401886, 0.017746840737602496, -0.0005928372667681495,
         0.008381833970853752, -0.01293369259698612, 0.009412056815253861, 0.0, -0.005353253107275676,
         -0.06666729992455811),
        (0.03887903257436304, 0.0, 0.0, -0.0024403203308301317, -0.0013928917214672623, -0.00047446291558680135,
         0.00039207932413159514, -0.00040554733285128004, 0.00019897093147716726, 0.0, -0.00010278198793179169,
         0.03385661513870267, 0.1814893063199928),
        (0.05723681204690013, 0.0, 0.0, 0.22265948066761182, 0.12344864200186899, 0.04006332526666491,
         -0.05269894848581452, 0.04765971214244523, -0.02138895885042213, 0.0, 0.015193891064036402,
         0.12060546716289655, -0.022779423016187374, 0.0),
        (0.051372038802756814, 0.0, 0.0, 0.5414214473439406, 0.350399806692184, 0.14193112269692182,
         0.10527377478429423, -0.031081847805874016, -0.007401883149519145, 0.0, -0.006377932504865363,
         -0.17325495908361865, -0.18228156777622026, 0.0, 0.0),
    )
    C_EXTRA = (0.29, 0.125, 0.25, 0.53, 0.79)
    BI = (
        (1.0, -8.413387198332767, 33.675508884490895, -70.80159089484886, 80.64695108301298, -47.19413969837522,
         11.133813442539243),
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        (0.0, 8.754921980674396, -88.4596828699771, 346.9017638429916, -629.2580030059837, 529.6773755604193,
         -167.35886986514018),
        (0.0, 8.913387586637922, -90.06081846893218, 353.1807459217058, -640.6476819744374, 539.2646279047156,
         -170.38809442991547),
        (0.0, 5.1733120298478, -52.271115900055385, 204.9853867374073, -371.8306118563603, 312.9880934374529,
         -98.89290352172495),
        (0.0, 16.79537744079696, -169.70040000059728, 665.4937727009246, -1207.1638892336007, 1016.1291515818546,
         -321.06001557237494),
        (0.0, -10.005997536098665, 101.1005433052275, -396.47391512378437, 719.1787707014183, -605.3681033918824,
         191.27439892797935),
        (0.0, 2.764708833638599, -27.934602637390462, 109.54779186137893, -198.7128113064482, 167.26633571640318,
         -52.85010499525706),
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        (0.0, -2.1696320280163506, 22.016696037569876, -86.90152427798948, 159.22388973861476, -135.9618306534588,
         43.792401183280006),
        (0.0, -4.890070188793804, 22.75407737425176, -30.78034218537731, -2.797194317207249, 31.369456637508403,
         -15.655927320381801),
        (0.0, 10.862170929551967, -50.542971417827104, 68.37148040407511, 6.213326521632409, -69.68006323194157,
         34.776056794509195),
        (0.0, -11.37286691922923, 130.79058078246717, -488.65113677785604, 832.2148793276441, -664.7743368554426,
         201.79288044241662),
        (0.0, -5.919778732715007, 63.27679965889219, -265.432682088738, 520.1009254140611, -467.412109533902,
         155.3868452824017),
        (0.0, -10.492146197961823, 105.35538525188011, -409.43975011988937, 732.831448907654, -606.3044574733512,
         188.0495196316683),
    )


def _vern7_dense(t, b: tuple):
    """Verner's 7th-order interpolant: weight ``Σ_j BI[i][j] θ^(j+1)`` of stage i (16 stages:
    the 10 of the step, ``f(t + h, y_new)``, five extra ones)."""
    out = []
    for row in _VERN7.BI:
        acc = 0.0
        for coef in reversed(row):
            acc = (acc + coef) * t
        out.append(acc)
    return out


@lru_cache(maxsize=None)
def vern7_tableau() -> Tableau:
    """Verner's efficient 7(6) pair (QuTiP's coefficients): 10 evaluations per step, the 7th-order
    solution, the error ``b - b̂`` of the 6th-order one, Verner's 7th-order interpolant (five
    extra stages) and an I controller ``0.9 en^(-1/7)``."""
    v = _VERN7
    e = tuple(x - y for x, y in zip(v.B, v.BH)) + (0.0,)
    return Tableau(name="vern7", a=v.A + (v.B,), b=v.B + (0.0,), e=e, c=v.C + (1.0,), dense=_vern7_dense,
                   order=7, a_extra=v.A_EXTRA, c_extra=v.C_EXTRA, pi_beta=0.0)


@lru_cache(maxsize=None)
def tsit5_tableau() -> Tableau:
    """Tsitouras 5(4) (diffrax's coefficients) with Tsitouras' dense output."""
    return Tableau(name="tsit5", dense=_tsit5_dense, **_TSIT5)


@lru_cache(maxsize=None)
def dopri5_tableau() -> Tableau:
    """Dormand–Prince 5(4) (diffrax's coefficients) with Shampine's dense output."""
    return Tableau(name="dopri5", dense=_dopri5_dense, **_DOPRI5)


def materialize(x):
    """Return ``x`` (2, ...) unchanged, but computed once and kept in memory.

    XLA's CPU fusion happily recomputes a cheap-looking producer (a stage sum, a cos(E t) vector,
    a user's coefficient) inside every element of an n×n consumer loop, which turns n
    trigonometric evaluations into n² of them. A contraction with the 2×2 identity is not fused
    into elementwise consumers, so it pins the value.
    """
    return jnp.tensordot(jnp.eye(2, dtype=x.dtype), x, axes=1)


def run_time_offset(tlist):
    """An int32 scalar that XLA cannot know when it compiles (0 or 1, from the traced ``tlist``),
    for :func:`pin`; ``None`` where ``tlist`` is a concrete array (a compile-time constant)."""
    if not isinstance(tlist, jax.core.Tracer):
        return None
    return (tlist[-1] < tlist[0]).astype(jnp.int32)


def pin(x, y, offset):
    """``x`` (2, n, n) computed once and kept, as :func:`materialize`; for a small state (n ≤
    ``_ops.UNPARTITIONED_MAX_N``) and a run-time ``offset`` (:func:`run_time_offset`) as
    ``_ops._unpartitioned``'s in-place update of a buffer instead: XLA's CPU compiler then does
    not split the loop that computes ``x`` (a stage sum of a few µs at D = 81) across threads,
    nor the contraction that pins it (benchmarks/RESULTS.md, "2026-12-07, unsplit stage sums").
    Both give ``x`` bit for bit. ``y``: the step's state (2, n, n), which fills the buffer.
    ``offset`` must not depend on data batched by ``jax.vmap`` (``tlist`` usually is not): a
    batched offset makes the update a scatter (correct, slower)."""
    from ._ops import UNPARTITIONED_MAX_N

    if offset is None or x.ndim != 3 or x.shape[-1] > UNPARTITIONED_MAX_N:
        return materialize(x)
    zero = jnp.zeros((), offset.dtype)
    buf = jnp.broadcast_to(y[0, 0, 0], (2, x.shape[1] + 1, x.shape[2])).astype(x.dtype)
    buf = lax.dynamic_update_slice(buf, x, (zero, offset, zero))
    # read back twice (the second read is never selected): a consumer that reads its operand more
    # than once does not get the update fused into it, which would make a partitioned loop again
    return jnp.where(offset >= 0, lax.dynamic_slice(buf, (zero, offset, zero), x.shape),
                     lax.dynamic_slice(buf, (zero, offset + 1, zero), x.shape))


def _lincomb(ws, ks):
    out = None
    for w, k in zip(ws, ks):
        if isinstance(w, float) and w == 0.0:
            continue
        out = w * k if out is None else out + w * k
    return out


def adaptive_start(f: Callable, y0, tlist, save: Callable, *, tableau: Tableau, rtol, atol):
    """The loop state at ``tlist[0]`` (initial step of Hairer, Nørsett & Wanner I, II.4) and
    ``save(tlist[0], y0)``. Returns ``(state, first)``; ``state["idx"]`` is the next saved index."""
    tb = tableau
    t0, t_end = tlist[0], tlist[-1]
    first = save(t0, y0)
    k1 = f(t0, y0)
    d0 = _err_norm(y0, y0, y0, rtol, atol)
    d1 = _err_norm(k1, y0, y0, rtol, atol)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    y1 = y0 + h0 * k1
    k2 = f(t0 + h0, y1)
    d2 = _err_norm(k2 - k1, y0, y0, rtol, atol) / h0
    h1 = jnp.where(jnp.maximum(d1, d2) <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.maximum(d1, d2)) ** (1.0 / tb.order))
    h = jnp.minimum(jnp.minimum(100 * h0, h1), t_end - t0)
    state = {"t": t0, "y": y0, "k1": k1, "h": h, "en_prev": jnp.asarray(1.0), "idx": jnp.asarray(1, jnp.int32),
             "steps": jnp.asarray(0, jnp.int32), "accepted": jnp.asarray(0, jnp.int32)}
    if tb.a_extra:  # steps that evaluated the dense output's extra stages
        state["dense"] = jnp.asarray(0, jnp.int32)
    return state, first


def pi_factor_exponents(order: int, beta: float = PI_BETA) -> tuple[float, float]:
    """The PI controller's exponents ``(alpha, beta)``: ``fac = 0.9 en^-alpha en_prev^beta``.

    ``alpha = 1/order - 0.75 beta`` with ``beta = 0.04`` (Hairer, Nørsett & Wanner II, IV.2);
    ``beta = 0`` is the I controller of Hairer's DOP853 and SciPy.

    >>> pi_factor_exponents(5), pi_factor_exponents(8, 0.0)
    ((0.17, 0.04), (0.125, 0.0))
    """
    return round(1.0 / order - 0.75 * beta, 12), beta


def _err_norm(e, y, yn, rtol, atol):
    """``sqrt(mean(x²))`` with ``x = e / (atol + rtol max(|y|, |yn|))``: the weighted RMS norm.

    In a program compiled with XLA's classic CPU emitter (``_jit.classic_emitter()`` while it is
    traced: the explicit Runge–Kutta solves of ``mesolve``) it is one two-output reduction of
    ``x²`` (its sum, and its maximum, which is NaN exactly when the norm is), so that XLA emits it
    as one loop of its own with the error's stage sum fused in. A plain sum goes to YNNPACK, which
    there cost ~30 µs more per tsit5 step at D = 81; under XLA's default fusion emitters (mcsolve)
    the plain sum is the faster one, 2-2.5x (``benchmarks/RESULTS.md``, issue 15, 2026-12-07).
    The two forms differ only in the order of the summation.
    """
    x = e / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(yn)))
    if not classic_emitter():
        return jnp.sqrt(jnp.mean(x ** 2))
    x2 = x * x
    zero = jnp.zeros((), x.dtype)
    s, m = lax.reduce((x2, x2), (zero, zero), lambda a, b: (a[0] + b[0], jnp.maximum(a[1], b[1])),
                      tuple(range(x.ndim)))
    return jnp.where(m >= 0, jnp.sqrt(s / x.size), m)


def _combined_norm(e5, e3, y, yn, rtol, atol):
    """DOP853's estimator in the RMS norm: ``‖e5‖² / sqrt(‖e5‖² + 0.01 ‖e3‖²)`` (SciPy's
    ``DOP853._estimate_error_norm``, which divides by the same sqrt(N))."""
    n5 = _err_norm(e5, y, yn, rtol, atol) ** 2
    n3 = _err_norm(e3, y, yn, rtol, atol) ** 2
    den = jnp.sqrt(n5 + 0.01 * n3)
    return jnp.where(den > 0, n5 / jnp.where(den > 0, den, 1.0), 0.0)


def dense_stages(f: Callable, tb: Tableau, t, y, h, ks: list, offset=None) -> list:
    """``ks`` (the ``s`` stages of a step, the FSAL one last) followed by the extra stages that
    ``tb.dense`` weighs (none for the 5(4) pairs, three for DOP853, five for Vern7).
    ``offset``: see :func:`pin`."""
    ks = list(ks)
    for row, c in zip(tb.a_extra, tb.c_extra):
        ks.append(f(t + c * h, pin(y + h * _lincomb(row, ks), y, offset)))
    return ks


def rk_step(f: Callable, tb: Tableau, t, y, k1, h, en_prev, rtol, atol, offset=None):
    """One trial step of the pair ``tb`` from ``(t, y)`` with ``k1 = f(t, y)`` and step ``h``.

    Returns ``(y_new, ks, en, accept, fac)``: the new solution, the ``s`` stages (``ks[-1]`` is
    ``f`` at the new point, FSAL; ``y + h Σ tb.dense(θ)_i ks_i`` is the dense output, after
    :func:`dense_stages` for a tableau with extra stages), the error norm, whether it is accepted
    (``en <= 1``) and the PI controller's factor for the next step (``en_prev``: the error norm of
    the last accepted step). ``offset``: see :func:`pin` (None: :func:`materialize`).
    """
    ks = [k1]
    last = len(tb.a)
    for i in range(1, last + 1):
        yi = pin(y + h * _lincomb(tb.a[i - 1], ks), y, offset)
        ks.append(f(t + tb.c[i] * h, yi))
        if i == last:
            y_new = yi  # FSAL: the last stage is evaluated at the new solution
    err = h * _lincomb(tb.e, ks)
    if tb.e3 is None:
        en = _err_norm(err, y, y_new, rtol, atol)
    else:
        en = _combined_norm(err, h * _lincomb(tb.e3, ks), y, y_new, rtol, atol)
    accept = en <= 1.0
    # PI controller
    en_safe = jnp.maximum(en, 1e-10)
    alpha, beta = pi_factor_exponents(tb.order, tb.pi_beta)
    fac = 0.9 * en_safe ** (-alpha) * en_prev ** beta
    fac = jnp.where(accept, jnp.clip(fac, 0.2, 10.0), jnp.clip(0.9 * en_safe ** (-1.0 / tb.order), 0.2, 1.0))
    return y_new, ks, en, accept, fac


def adaptive_advance(f: Callable, state: dict, buf, row0, stop, tlist, save: Callable, *, tableau: Tableau, rtol,
                     atol, max_steps: int, on_trial: Callable | None = None, extra=None, unsplit: bool = False):
    """Step on from ``state`` until the saved times before index ``stop`` are filled.

    ``save(t, y)`` at ``tlist[j]`` goes to row ``j - row0`` of ``buf`` (a pytree of arrays with
    a leading row axis). A step is taken the same way whatever ``stop`` is, so the saved values do
    not depend on how the times are cut into chunks: an accepted step whose saved times run past
    ``stop`` fills those before ``stop`` and is not committed; the next chunk repeats the very
    same step (same inputs, same program) and fills the rest. Returns ``(state, buf)``.

    ``on_trial(extra, state, h) -> extra``, if given, sees every trial step before it is taken
    (``h``: the step tried, already cut at ``tlist[-1]``) and threads the pytree ``extra``
    through the loop; the return value is then ``(state, buf, extra)`` (the reverse mode of
    :mod:`nephlab.quantum._rk_adjoint` records its checkpoints this way).

    ``unsplit``: pin the stage inputs of a small state with :func:`pin` (the sparse format, where
    XLA's split of their loops across threads cost more than it gave); otherwise
    :func:`materialize` (the dense format: there the pins measured +5-8 % CPU and no wall-time
    gain at n = 20 and 50, benchmarks/RESULTS.md, 2026-12-07 merged pass).
    """
    tb = tableau
    T = tlist.shape[0]
    t_end = tlist[-1]
    offset = run_time_offset(tlist) if unsplit else None

    def cond(c):
        s = c[0]
        return (s["idx"] < stop) & (s["steps"] < max_steps) & (s["h"] > 0)

    def body(c):
        s, buf = c[0], c[1]
        t, y = s["t"], s["y"]
        h = jnp.minimum(s["h"], t_end - t)
        ex = None if on_trial is None else on_trial(c[2], s, h)
        y_new, ks, en, accept, fac = rk_step(f, tb, t, y, s["k1"], h, s["en_prev"], rtol, atol, offset)
        k1 = s["k1"]
        t_new = jnp.where(t + h >= t_end, t_end, t + h)

        def save_one(c):
            idx, buf = c
            ts = tlist[idx]
            theta = (ts - t) / h
            w = tb.dense(theta, tb.b)
            ys = jnp.where(ts >= t_new, y_new, y + h * _lincomb(w, ks))
            out = save(ts, ys)
            buf = jax.tree_util.tree_map(lambda b, o: lax.dynamic_update_index_in_dim(b, o, idx - row0, 0), buf, out)
            return idx + 1, buf

        def save_cond(c):
            return accept & (c[0] < stop) & (tlist[jnp.minimum(c[0], T - 1)] <= t_new)

        if tb.a_extra:  # the extra stages, only when a saved time lies inside the step
            j = jnp.minimum(s["idx"], T - 1)
            inside = accept & (s["idx"] < stop) & (tlist[j] < t_new)
            ks = lax.cond(inside, lambda ks: dense_stages(f, tb, t, y, h, ks, offset),
                          lambda ks: ks + [jnp.zeros_like(y)] * len(tb.a_extra), ks)
        idx, buf = lax.while_loop(save_cond, save_one, (s["idx"], buf))
        # saved times of this step beyond the chunk: leave the step to the next chunk
        later = accept & (idx >= stop) & (stop < T) & (tlist[jnp.minimum(stop, T - 1)] <= t_new)
        # The commit writes y and k1 in place of the old ones, which the saving loop reads. Unless
        # the commit depends on that loop's output, XLA cannot order the two and copies y and k1
        # at the start of every step; ``idx >= s["idx"]`` (always true) is that dependency where
        # ``later`` folds away (stop = T). (An optimization_barrier does not do it: XLA's CPU
        # pipeline drops barriers before it inserts the copies.)
        commit = accept & ~later & (idx >= s["idx"])
        new = {
            "t": jnp.where(commit, t_new, t),
            "y": jnp.where(commit, y_new, y),
            "k1": jnp.where(commit, ks[len(tb.a)], k1),
            "h": jnp.where(later, s["h"], h * fac),
            "en_prev": jnp.where(commit, jnp.maximum(en, 1e-4), s["en_prev"]),
            "idx": idx,
            "steps": s["steps"] + jnp.where(later, 0, 1).astype(jnp.int32),
            "accepted": s["accepted"] + commit.astype(jnp.int32),
        }
        if tb.a_extra:
            new["dense"] = s["dense"] + (inside & commit).astype(jnp.int32)
        return (new, buf) if on_trial is None else (new, buf, ex)

    return lax.while_loop(cond, body, (state, buf) if on_trial is None else (state, buf, extra))


def adaptive_stats(state: dict, n_times: int, tableau: Tableau | None = None) -> dict:
    """Step statistics of a loop state of ``tableau`` (default: a 7-stage 5(4) pair);
    ``success``: every saved time was reached. ``rhs_evals`` counts the two evaluations of the
    initial step choice, ``tableau.rhs_per_step`` per trial step and the dense output's extra stages."""
    per_step = 6 if tableau is None else tableau.rhs_per_step
    extra = 0 if tableau is None or not tableau.a_extra else len(tableau.a_extra) * state["dense"]
    return {
        "steps": state["steps"],
        "accepted": state["accepted"],
        "rejected": state["steps"] - state["accepted"],
        "rhs_evals": per_step * state["steps"] + 2 + extra,
        "success": state["idx"] >= n_times,
    }


def adaptive_solve(f: Callable, y0, tlist, save: Callable, *, tableau: Tableau, rtol, atol, max_steps: int,
                   unsplit: bool = False):
    """Integrate ``y' = f(t, y)`` from ``tlist[0]`` with the pair ``tableau`` and call
    ``save(t, y)`` at every ``tlist`` time (one call: :func:`adaptive_start`, then
    :func:`adaptive_advance` over all times into one buffer; ``unsplit`` as there).

    Returns ``(saved, y_final, stats)``; ``saved`` stacks the pytrees returned by ``save``.
    """
    T = tlist.shape[0]
    state, first = adaptive_start(f, y0, tlist, save, tableau=tableau, rtol=rtol, atol=atol)
    buf = jax.tree_util.tree_map(lambda x: jnp.zeros((T,) + x.shape, x.dtype).at[0].set(x), first)
    state, buf = adaptive_advance(f, state, buf, 0, T, tlist, save, tableau=tableau, rtol=rtol, atol=atol,
                                  max_steps=max_steps, unsplit=unsplit)
    return buf, state["y"], adaptive_stats(state, T, tableau)
