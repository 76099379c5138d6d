"""Who is calling an emulated miner: its subnet's metagraph, as the stand-ins' blacklists read it."""

import time

from orchestra.chain import ChainClient, MetagraphView, NeuronView


class CallerLookup:
    """Finds a caller's neuron on one subnet.

    The metagraph is re-read for a hotkey not seen yet, at most once a second: callers register
    after the stand-in starts, and a flood of unknown hotkeys must not mean a flood of chain reads.
    """

    def __init__(self, chain: ChainClient, netuid: int) -> None:
        self.chain = chain
        self.netuid = netuid
        self._graph: MetagraphView | None = None
        self._read_at = 0.0

    def neuron(self, hotkey: str) -> NeuronView | None:
        graph = self._graph
        if graph is None or (hotkey not in graph.hotkeys and time.monotonic() - self._read_at > 1.0):
            graph = self._graph = self.chain.metagraph(self.netuid)
            self._read_at = time.monotonic()
        return graph.by_hotkey(hotkey)
