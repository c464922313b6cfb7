"""The upgrade planner's rules, one module per concern.

Import from `upgrade_planner.domain.planner`, the planner's public face; these modules are its
insides and may be rearranged.
"""
