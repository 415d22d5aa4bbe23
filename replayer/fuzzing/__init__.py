"""Generated and mutated streams for hypothesis, and the `cassette fuzz` runner.

`_synthetic` builds protocol-valid events and Messages; `_generated` turns a generated Message
into a replayable stream; `_mutate` varies a recorded cassette; `_strategies` holds the public
strategies (re-exported as `replayer.strategies`); `_runner` drives a consumer, shrinks and
saves the failure. Nothing is imported here: hypothesis loads only when fuzzing.
"""
