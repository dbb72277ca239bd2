-- wrk script for the mitten bench harness (bench/run.sh).
--
--   wrk ... -s bench/wrk.lua http://127.0.0.1:PORT -- WORKLOAD SESSIONS_FILE
--
-- WORKLOAD is one of plain, login, read, form_get, form_post.
-- SESSIONS_FILE has one line per session: "<Cookie header>\t<CSRF token>",
-- made by run.sh with curl. Requests go round-robin over the sessions, so
-- with more sessions than connections no two in-flight requests share a
-- session (a real site's traffic, and no compare-and-set contention that
-- a single shared cookie would create).
--
-- Every request is built once in init(): request() only picks the next one,
-- so the load generator spends its core on the network, not on Lua.

local requests = {}
local idx = 0

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function init(args)
  local workload = args[1]
  local file = args[2]
  local host = wrk.headers["Host"]
  local origin = "http://" .. host
  local n = 0
  for line in io.lines(file) do
    local cookie, token = line:match("^(.-)\t(.*)$")
    if cookie then
      n = n + 1
      local h = { ["Host"] = host, ["Origin"] = origin }
      if cookie ~= "" then h["Cookie"] = cookie end
      local req
      if workload == "plain" then
        req = wrk.format("GET", "/plain", { ["Host"] = host })
      elseif workload == "read" then
        req = wrk.format("GET", "/read", h)
      elseif workload == "form_get" then
        req = wrk.format("GET", "/form", h)
      elseif workload == "login" then
        h["Content-Type"] = "application/x-www-form-urlencoded"
        req = wrk.format("POST", "/login", h,
          "user=user" .. n .. "&_csrf_token=" .. urlencode(token))
      elseif workload == "form_post" then
        h["Content-Type"] = "application/x-www-form-urlencoded"
        req = wrk.format("POST", "/form", h,
          "_csrf_token=" .. urlencode(token) .. "&note=hello")
      else
        error("unknown workload " .. tostring(workload))
      end
      requests[n] = req
    end
  end
  if n == 0 then error("no sessions in " .. tostring(file)) end
end

function request()
  idx = idx % #requests + 1
  return requests[idx]
end
