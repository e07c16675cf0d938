"""The account campaign's Temporal shell, in the pieces ``AccountCampaign`` runs.

The decisions are in ``domain.campaign_core``; these modules carry them out with
Temporal: ``shell`` (the host, the effects, the run's own flags), ``waiting`` (durable
waits, exports, continue-as-new), ``agents`` (research, next best action, the
supervisor, the reply reader), ``contacting`` (a step's contact through the gate and
its channel agent, dead letters, redrives, callbacks).
"""
