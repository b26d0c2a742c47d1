"""`pilothouse executor`: the agent that runs inside (or next to) a cluster and dials out to the server.

Infrastructure and logic are kept apart, as kopf keeps its clients apart from its reactor:

- ``client``: the HTTP side of docs/executor-protocol.md (aiohttp, headers, status codes);
- ``runner``: subprocesses (process groups, hard timeouts, capped output);
- ``kubectl``: how this executor invokes kubectl (argv, environment);
- ``discovery``: the cluster's resource types, which the command policy needs;
- ``handler``: what one command becomes (policy verdict, kubectl run, result);
- ``agent``: the poll / run / post loop with bounded concurrency, back-off and draining;
- ``service``: wiring the above together for the CLI;
- ``testing``: an in-memory server side of the protocol for tests and benchmarks.
"""
