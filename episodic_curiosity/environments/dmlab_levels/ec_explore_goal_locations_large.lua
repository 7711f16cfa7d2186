--[[ explore_goal_locations_large with a minimum spawn-to-goal maze distance.

The project's own level for stock DeepMind Lab (no engine patch): load it with the settings
`levelDirectory = <this folder>` and level name `ec_explore_goal_locations_large`.

Same maze generator, options (120 s episodes, 17x17 maze, up to 9 rooms of at most 3x3
cells, 5 goal candidates per room) and goal choice as the stock
`contributed/dmlab30/explore_goal_locations_large`, so a seed gives the stock level's maze
and goal. What differs is the spawn: at the start and after every goal (the respawn), the
player appears on a 'P' cell whose flood-fill distance from the goal is at least
`minGoalDistance` cells (a level option, so the setting is accepted; 0 = any connected 'P'
cell). When no 'P' cell is that far, one of the farthest is used and a warning is printed.
The pure placement logic is in `ec_goal_placement.lua`.
]]

local factory = require 'factories.explore.factory'
local helpers = require 'common.helpers'
local random = require 'common.random'
local placement = require 'ec_goal_placement'

local level = {}

local function uniformInt(a, b)
  return random:uniformInt(a, b)
end

function level:start(maze, episode, seed)
  random:seed(seed)
  level._rows = placement.parseLayout(maze:entityLayer())
  local goal, goalIndex = placement.chooseGoal(level._rows, level.opts.overrideGoalStartRow,
                                    level.opts.overrideGoalEndRow, uniformInt)
  level._goal, level._goalId = goal, goalIndex
  level._goalX, level._goalY = maze:toWorldPos(goal[1], goal[2])
end

-- Called on every map load: the episode start and each respawn after the goal.
function level:restart(maze)
  local minDistance = level.opts.minGoalDistance
  local spawn, fellBack = placement.chooseSpawn(level._rows, level._goal, minDistance,
                                                uniformInt)
  if fellBack then
    io.stderr:write(string.format(
        'WARNING: no spawn cell is %d cells from the goal (%d, %d); using one of the ' ..
        'farthest, %d cells away.\n', minDistance, level._goal[1], level._goal[2], spawn[3]))
  end
  level._spawnDistance = spawn[3]
  level._spawnX, level._spawnY = maze:toWorldPos(spawn[1], spawn[2])
end

local function atCell(spawnVars, x, y)
  local px, py = unpack(helpers.spawnVarToNumberTable(spawnVars.origin))
  return px == x and py == y
end

level.spawnVarsUpdater = {
    info_player_start = function(spawnVars)
      if atCell(spawnVars, level._spawnX, level._spawnY) then
        return spawnVars
      end
      return nil
    end,
    goal = function(spawnVars)
      if atCell(spawnVars, level._goalX, level._goalY) then
        spawnVars.id = tostring(level._goalId)
        return spawnVars
      end
      return nil
    end,
}

level.opts = {
    episodeLengthSeconds = 120,
    mazeHeight = 17,
    mazeWidth = 17,
    objectCount = 5,
    roomCount = 9,
    roomMaxSize = 3,
    objectEntity = 'G',
    overrideGoalStartRow = 0,
    overrideGoalEndRow = 0,
    minGoalDistance = 0,
}

return factory.createLevelApi{opts = level.opts, level = level}
