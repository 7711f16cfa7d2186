-- Prints what ec_goal_placement.lua computes for one maze, for tests/test_dmlab_placement.py.
-- Usage: lua5.1 placement_driver.lua LEVELS_DIR MAZE_FILE GOAL_ROW GOAL_COL MIN_DISTANCE PICK
-- (rows and columns 1-based; PICK k makes uniformInt(a, b) return a + k mod (b - a + 1)).
local levelsDir, mazeFile = arg[1], arg[2]
local goalRow, goalCol = tonumber(arg[3]), tonumber(arg[4])
local minDistance, pick = tonumber(arg[5]), tonumber(arg[6])
package.path = levelsDir .. '/?.lua;' .. package.path
local placement = require 'ec_goal_placement'

local file = assert(io.open(mazeFile, 'r'))
local rows = placement.parseLayout(file:read('*a'))
file:close()

local function uniformInt(a, b)
  return a + pick % (b - a + 1)
end

local parts = {}
for _, cell in ipairs(placement.goalCandidates(rows)) do
  parts[#parts + 1] = cell[1] .. ',' .. cell[2]
end
print('goals ' .. table.concat(parts, ' '))

local cells, fellBack, farthest = placement.spawnCandidates(rows, {goalRow, goalCol}, minDistance)
parts = {}
for _, cell in ipairs(cells) do
  parts[#parts + 1] = cell[1] .. ',' .. cell[2] .. ',' .. cell[3]
end
print('candidates ' .. table.concat(parts, ' '))
print('fellBack ' .. tostring(fellBack))
print('farthest ' .. farthest)

local goal = placement.chooseGoal(rows, 0, 0, uniformInt)
print('goal ' .. goal[1] .. ',' .. goal[2])
local spawn = placement.chooseSpawn(rows, {goalRow, goalCol}, minDistance, uniformInt)
print('spawn ' .. spawn[1] .. ',' .. spawn[2] .. ',' .. spawn[3])
