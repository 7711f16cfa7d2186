-- Runs the project's level script ec_explore_goal_locations_large.lua under a plain Lua 5.1,
-- with small stand-ins for the DeepMind Lab modules it requires. Checks that the level declares
-- minGoalDistance as an option, keeps the stock EGL options, applies the minimum distance at the
-- start and at every respawn, falls back to the farthest spawn cells with a warning, and keeps
-- only the chosen spawn point and goal entity. Usage: lua5.1 level_script_test.lua LEVELS_DIR
-- MAZE_FILE. Prints 'OK' and exits 0 on success; any failed assert exits non-zero.
local levelsDir, mazeFile = arg[1], arg[2]
package.path = levelsDir .. '/?.lua;' .. package.path
local placement = require 'ec_goal_placement'

local created
package.preload['factories.explore.factory'] = function()
  return {createLevelApi = function(kwargs)
    created = kwargs
    return {stub = true}
  end}
end
package.preload['common.helpers'] = function()
  return {spawnVarToNumberTable = function(text)
    local values = {}
    for number in string.gmatch(text, '%S+') do
      values[#values + 1] = tonumber(number)
    end
    return values
  end}
end
-- A deterministic generator (Park-Miller) standing in for DeepMind Lab's common.random.
local state = 1
package.preload['common.random'] = function()
  return {
    seed = function(self, value) state = value % 2147483646 + 1 end,
    uniformInt = function(self, a, b)
      state = (state * 16807) % 2147483647
      return a + state % (b - a + 1)
    end,
  }
end

local file = assert(io.open(mazeFile, 'r'))
local layout = file:read('*a')
file:close()
local rows = placement.parseLayout(layout)
local height = #rows
local maze = {
  entityLayer = function(self) return layout end,
  size = function(self) return height, #rows[1] end,
  toWorldPos = function(self, row, col) return 100 * (col - 1) + 50, 100 * (height - row) + 50 end,
}
local function cellOf(x, y)
  return height - math.floor(y / 100), math.floor(x / 100) + 1
end

local api = dofile(levelsDir .. '/ec_explore_goal_locations_large.lua')
assert(api.stub and created, 'the level must be built by the explore factory')
local level, opts = created.level, created.opts
assert(opts == level.opts)
assert(opts.minGoalDistance == 0, 'minGoalDistance must be a declared option (default 0)')
assert(opts.episodeLengthSeconds == 120 and opts.mazeHeight == 17 and opts.mazeWidth == 17)
assert(opts.objectCount == 5 and opts.roomCount == 9 and opts.roomMaxSize == 3)
assert(opts.objectEntity == 'G')

-- What DeepMind Lab's setting override does with config {minGoalDistance = '10'}.
opts.minGoalDistance = 10
level:start(maze, 0, 12345)
local goal = level._goal
assert(rows[goal[1]]:sub(goal[2], goal[2]) == 'G', 'the goal must be a G cell')
local dist = placement.distancesFrom(rows, goal[1], goal[2])

local warnings = {}
local realStderr = io.stderr
io.stderr = {write = function(self, text) warnings[#warnings + 1] = text end}
for respawn = 1, 40 do  -- the start, then respawns after the goal
  level:restart(maze)
  local row, col = cellOf(level._spawnX, level._spawnY)
  assert(rows[row]:sub(col, col) == 'P', 'the spawn must be a P cell')
  assert(dist[row][col] >= 10, 'spawn ' .. respawn .. ' is only ' .. dist[row][col] .. ' away')
  assert(dist[row][col] == level._spawnDistance)
  -- Only the chosen spawn point and goal survive the spawn-variable update.
  local origin = level._spawnX .. ' ' .. level._spawnY .. ' 30'
  assert(level.spawnVarsUpdater.info_player_start({origin = origin}) ~= nil)
  assert(level.spawnVarsUpdater.info_player_start({origin = '-1 -1 30'}) == nil)
end
assert(#warnings == 0, 'no warning expected while a far enough spawn exists')

local goalVars = level.spawnVarsUpdater.goal({origin = level._goalX .. ' ' .. level._goalY .. ' 30'})
assert(goalVars and goalVars.id == tostring(level._goalId))
assert(level.spawnVarsUpdater.goal({origin = '-1 -1 30'}) == nil)

-- Unsatisfiable distance: the farthest P cells, with a warning.
local _, _, farthest = placement.spawnCandidates(rows, goal, 0)
opts.minGoalDistance = farthest + 5
level:restart(maze)
local row, col = cellOf(level._spawnX, level._spawnY)
assert(dist[row][col] == farthest, 'fallback must use a farthest P cell')
assert(#warnings == 1 and warnings[1]:find('WARNING', 1, true), 'fallback must warn')
io.stderr = realStderr
print('OK goal ' .. goal[1] .. ',' .. goal[2] .. ' farthest ' .. farthest)
