"""The application, written once: its streams and their settings (`topics`, with `TABLE`, what a back end
is told about them), its wiring (`wiring.SERVICES`: which service reads and writes what, in which group),
their declaration on any back end (`declare`: `app_transport`, `declare_app`), the runner that starts,
supervises and drains the services (`runner`), its live view (`progress`) and the component diagram
generated from the wiring (`diagram`). The services themselves are `streamlab.services.<name>`.
"""
