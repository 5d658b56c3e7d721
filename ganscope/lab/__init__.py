"""The live lab (``ganscope lab``, docs/lab.md): a local ASGI application (Starlette, served by uvicorn) with
two panes, the Dirac-GAN of ``ganscope.analysis.dirac`` and a real 2-D training on the engine's ``Game``.

* ``dirac_api``: the query of pane 1 → the numbers of ``analysis.dirac`` (the same object as
  ``ganscope dirac --json``) plus what the page draws (field, trajectory, the (h, γ) map);
* ``training``: one training thread per session, its settings, snapshots and the cap on concurrent runs;
* ``app``: the routes, the content-security policy, bad input as a 4xx JSON message;
* ``server``: binding 127.0.0.1, refusing a port in use, running uvicorn.

The page (``static/``) is plain JavaScript drawing on canvases: no library, no request leaves the machine.
"""
