"""Faults, counted (chapter 06): crash and break the running application, then count every sequence number.

`ledger` turns what each stage holds (the broker's copy of what the generators
sent, the rows in Parquet and CSV) into lost / duplicated / reordered counts and
a recovery time; `audit` reads the broker's copy; `scenarios` runs the
application (`streamlab.pipeline.runner.AppRun`) with one fault injected (a
service SIGKILLed at a crash point, `streamlab.crashpoints`; a broker killed or
paused through `streamlab.stack`) and returns the ledger's row and timeline.
"""
