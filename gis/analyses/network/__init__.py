"""Referral and satellite-hospital network: a networkx graph of facilities and its analyses. May
import what :mod:`gis.analyses` may (and :mod:`gis.model.costs` for nearest facilities).

The graph is a :class:`networkx.DiGraph` whose nodes are the active facilities (keyed by
``facility_id``; attributes ``name``, ``tier``, ``specialty``, ``beds``, ``doctors``, ``nurses``
(NaN = unknown), ``commune_code``, ``role``, ``x``, ``y`` in the working CRS, metres) and whose
edges carry ``kind``:

- ``"referral"``: child -> the facility it refers patients to, one per facility below the top.
  The rule, unless a referral table (``from_id``, ``to_id``) says otherwise for a facility:
  a branch point refers to its main station (under a plan: the main station of its commune;
  otherwise the nearest station of its commune); a station to the nearest regional hospital
  within the cut-off; a regional hospital to the provincial general hospital (tier provincial,
  specialty general; specialised provincial hospitals are not parents of regional hospitals);
  a provincial hospital to the central hospital it is a satellite of, else the nearest central
  hospital when the layer has one (otherwise it is the top).
- ``"satellite"``: core -> satellite hospital from a links table (``core_id``, ``satellite_id``,
  ``specialty``, ``since``); a core may be a central hospital outside the province, given by its
  coordinates in the facilities layer. Several specialties of one pair share one edge
  (``specialty`` joined with ``"; "``).

Every edge has ``time_min`` and ``dist_m`` from the travel model of the transfer mode
(:class:`gis.model.travel.TravelModel`: straight line, roads or friction surface; pairs with a
central hospital use the straight line, as roads of the province do not reach it).
``G.graph["crs"]`` holds the working CRS.

Analyses (pure functions): the referral chain of every demand unit and commune with cumulative
travel time; the load behind every hub against the beds target; the loss impact of every
hospital (and what the closure of an ended one did); satellite planning (maximal coverage,
exact or greedy with a bound); the network before and after a consolidation plan.
:func:`run_network` runs them all and returns the layers and the ``network`` summary section.

Modules: :mod:`~gis.analyses.network.graph` (nodes, parents, travel between facilities),
:mod:`~gis.analyses.network.chains` (referral chains and hub load),
:mod:`~gis.analyses.network.impact` (loss impact), :mod:`~gis.analyses.network.satellites`
(satellite planning), :mod:`~gis.analyses.network.layers` (edges and hubs as layers),
:mod:`~gis.analyses.network.run` (all of them for a province). Their public names are
re-exported here.
"""

from gis.analyses.network.chains import (
    chain_statistics,
    commune_chains,
    hub_load,
    node_chains,
    referral_chains,
)
from gis.analyses.network.graph import (
    FIRST_CONTACT_TIERS,
    HOSPITAL_TIERS,
    LEVELS,
    REFERRAL,
    SATELLITE,
    TIER_RANK,
    build_graph,
    facility_costs,
    network_nodes,
    offering,
    referral_graph,
    skip_reason,
    specialties,
    validate_graph,
)
from gis.analyses.network.impact import loss_impact
from gis.analyses.network.layers import edge_layer, hubs_layer
from gis.analyses.network.run import NetworkResult, compare_networks, run_network
from gis.analyses.network.satellites import (
    SatelliteChoice,
    SatelliteRequest,
    plan_satellites,
    satellite_planning,
)

__all__ = [
    "FIRST_CONTACT_TIERS", "HOSPITAL_TIERS", "LEVELS", "REFERRAL", "SATELLITE", "TIER_RANK",
    "NetworkResult", "SatelliteChoice", "SatelliteRequest", "build_graph", "chain_statistics",
    "commune_chains", "compare_networks", "edge_layer", "facility_costs", "hub_load",
    "hubs_layer", "loss_impact", "network_nodes", "node_chains", "offering", "plan_satellites",
    "referral_chains", "referral_graph", "run_network", "satellite_planning", "skip_reason",
    "specialties", "validate_graph",
]
