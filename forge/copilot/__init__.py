"""The co-pilot: advisors (rules, offline and the default; Gemini through google-genai) that
plan an experiment, advise on data and write preprocessing scripts, and the sandbox those
scripts run in. What leaves the machine is built in forge/copilot/share.py and nowhere else.

    config.py   conf/copilot.yaml, typed (backend, model, ...)
    secrets.py  keys from the environment, else the Linux session keyring (forge login)
    schema.py   JSON schemas of the answers, built from Forge's config dataclasses; validation
    share.py    what an advisor is given: schemas, statistics, redacted samples on request
    wire.py     the generateContent request body, as --show-prompt prints it
    advisor.py  the Advisor protocol and the backend chooser
    rules.py    RulesAdvisor;  gemini.py  GeminiAdvisor
    plan.py     forge plan;  advise.py  forge data study --advise
    prepare.py  forge prepare;  sandbox.py  bubblewrap (python -m forge.copilot.sandbox)
"""
