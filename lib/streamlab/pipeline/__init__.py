"""The application: its streams and their settings (`topics`), its wiring written once (`wiring`),
the runner that starts, supervises and drains the services (`runner`), and the component diagram
generated from the wiring (`diagram`). The services themselves are `streamlab.services.<name>`.
"""
