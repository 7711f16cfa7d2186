--[[ Goal and spawn placement for the project's explore-goal-locations level.

Pure Lua 5.1 (no DeepMind Lab module is required), so it runs under DeepMind Lab's
interpreter and under a plain `lua5.1` for tests. The Python mirror is
`episodic_curiosity/environments/dmlab_placement.py`; tests compare the two.

A maze is its entity layer as text: one line per row, '*' is a wall, 'P' a spawn
candidate, 'G' a goal candidate, every other character (space, door 'H'/'I') is open.
Rows and columns are 1-based here (DeepMind Lab's Lua convention). Distances are
flood-fill (4-neighbour breadth-first) path lengths in maze cells, the same as the
engine's `maze:visitFill`.
]]

local placement = {}

--[[ Splits `text` into rows; all rows must have the same length. ]]
function placement.parseLayout(text)
  local rows = {}
  for line in string.gmatch(text, '[^\n]+') do
    rows[#rows + 1] = line
  end
  if #rows == 0 then
    error('empty maze layout')
  end
  for i = 2, #rows do
    if #rows[i] ~= #rows[1] then
      error('maze layout row ' .. i .. ' has ' .. #rows[i] .. ' cells, row 1 has ' .. #rows[1])
    end
  end
  return rows
end

local function cellAt(rows, row, col)
  return string.sub(rows[row], col, col)
end

--[[ Flood-fill distances from (row, col): returns dist with dist[row][col] = cells, or nil
where the cell is a wall or not connected. `walls` (default '*') lists blocking characters. ]]
function placement.distancesFrom(rows, row, col, walls)
  walls = walls or '*'
  local height, width = #rows, #rows[1]
  local function open(r, c)
    return r >= 1 and r <= height and c >= 1 and c <= width and
        string.find(walls, cellAt(rows, r, c), 1, true) == nil
  end
  if not open(row, col) then
    error('flood fill starts on a wall or outside the maze: (' .. row .. ', ' .. col .. ')')
  end
  local dist = {}
  for r = 1, height do
    dist[r] = {}
  end
  dist[row][col] = 0
  local queue, head = {{row, col}}, 1
  local steps = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}}
  while head <= #queue do
    local r, c = queue[head][1], queue[head][2]
    head = head + 1
    for _, step in ipairs(steps) do
      local nr, nc = r + step[1], c + step[2]
      if open(nr, nc) and dist[nr][nc] == nil then
        dist[nr][nc] = dist[r][c] + 1
        queue[#queue + 1] = {nr, nc}
      end
    end
  end
  return dist
end

--[[ 'G' cells of rows firstRow..lastRow (whole maze when 0 or nil), in row-major order:
the order in which the stock goal-locations level lists them. ]]
function placement.goalCandidates(rows, firstRow, lastRow)
  local first = (firstRow and firstRow > 0) and firstRow or 1
  local last = (lastRow and lastRow > 0) and lastRow or #rows
  local goals = {}
  for r = first, last do
    for c = 1, #rows[r] do
      if cellAt(rows, r, c) == 'G' then
        goals[#goals + 1] = {r, c}
      end
    end
  end
  return goals
end

--[[ Spawn cells for a goal: the 'P' cells connected to `goal` ({row, col}) whose distance is
at least `minDistance`, in row-major order, each as {row, col, distance}. When no connected
'P' cell is that far, the farthest ones are returned instead and the second result is true.
Third result: the largest distance of a connected 'P' cell. ]]
function placement.spawnCandidates(rows, goal, minDistance)
  minDistance = minDistance or 0
  local dist = placement.distancesFrom(rows, goal[1], goal[2])
  local reachable, farthest = {}, -1
  for r = 1, #rows do
    for c = 1, #rows[r] do
      local d = dist[r][c]
      if d ~= nil and cellAt(rows, r, c) == 'P' then
        reachable[#reachable + 1] = {r, c, d}
        if d > farthest then
          farthest = d
        end
      end
    end
  end
  if #reachable == 0 then
    error('no spawn cell (P) is connected to the goal (' .. goal[1] .. ', ' .. goal[2] .. ')')
  end
  local eligible = {}
  for _, cell in ipairs(reachable) do
    if cell[3] >= minDistance then
      eligible[#eligible + 1] = cell
    end
  end
  if #eligible > 0 then
    return eligible, false, farthest
  end
  for _, cell in ipairs(reachable) do
    if cell[3] == farthest then
      eligible[#eligible + 1] = cell
    end
  end
  return eligible, true, farthest
end

--[[ Picks the goal uniformly among `goalCandidates`; `uniformInt(a, b)` returns an integer
in [a, b]. Returns {row, col} and its index among the candidates. ]]
function placement.chooseGoal(rows, firstRow, lastRow, uniformInt)
  local goals = placement.goalCandidates(rows, firstRow, lastRow)
  if #goals == 0 then
    error('the maze has no goal cell (G) in the allowed rows')
  end
  local index = uniformInt(1, #goals)
  return goals[index], index
end

--[[ Picks the spawn uniformly among `spawnCandidates`. Returns {row, col, distance}, whether
the fallback was used, and the number of candidates. ]]
function placement.chooseSpawn(rows, goal, minDistance, uniformInt)
  local cells, fellBack = placement.spawnCandidates(rows, goal, minDistance)
  return cells[uniformInt(1, #cells)], fellBack, #cells
end

return placement
