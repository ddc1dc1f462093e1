"""The Kafka deep dives of chapter 02, one module per deep dive, each an experiment on a live cluster.

Every experiment creates its own uniquely named topics and deletes them at the
end (`common.scratch_topics`), is bounded in count and time, restores any
broker it stopped (`common.restored_brokers`) even when it fails, and returns
tidy DataFrames for the chapter to save, plot and quote. Bad parameters raise
`streamlab.errors.UserError` with one line that says what to change.
"""
