-- Argo CD health of the khaibao.dev kinds Tenant, TenantSet and Platform (one script for the
-- three: they publish the same kstatus conditions). The chart puts it under the keys
-- resource.customizations.health.khaibao.dev_<Kind> of argocd-cm (values: argocd.healthChecks).
--
-- The operator writes status.observedGeneration and metav1 conditions: Ready, Reconciling
-- (work in progress) and Stalled (stuck until someone changes something); Reconciling and
-- Stalled are never both True. Other condition types are ignored here.
--
-- Argo CD runs this without Lua's standard libraries (no string, math, os): only the base and
-- table functions and the `..` operator are used.

local hs = {}

local function find(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return c.type .. " is " .. tostring(c.status)
end

local metadata = obj.metadata or {}
local status = obj.status

-- Argo CD itself answers Progressing "Pending deletion" for an object with a deletionTimestamp
-- before it runs any script; this keeps the script right on its own too.
if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting"
  return hs
end

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

if metadata.generation ~= nil and status.observedGeneration < metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(metadata.generation)
    .. " (observed " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local stalled = find(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled)
  return hs
end

-- A Platform whose rollout waits on people (paused, or a large deletion awaiting approval) is
-- neither progressing nor broken.
local rollout = status.rollout
if rollout ~= nil and (rollout.phase == "Paused" or rollout.phase == "AwaitingApproval") then
  hs.status = "Suspended"
  hs.message = "rollout " .. tostring(rollout.from) .. " → " .. tostring(rollout.to) .. " "
    .. rollout.phase
  if rollout.needsApproval ~= nil then
    hs.message = hs.message .. ": " .. rollout.needsApproval
  end
  return hs
end

local reconciling = find(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling)
  return hs
end

local ready = find(status.conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Progressing"
  hs.message = text(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the operator"
return hs
