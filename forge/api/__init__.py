"""The library functions the CLI, the server and the SDK all call: one per operation, typed,
returning plain data (dicts and lists that json.dumps). They work in the current directory
(the project root), raise ForgeError subclasses with the one line the user sees, and render
nothing: printing is the caller's.

- config: compose, check, validate
- pipeline: run (forge compose + dvc repro + the gate verdict)
- data: add, scan, study, list, show, history
- registry: promote, rollback, models, lineage, resolve_model
- evals: compare, list
- cluster: hw, cost
- containers: cleanup
- runs: DVC experiments (launch, list, show, metrics, cancel) for the server
"""
