# Plots of `make bench` (called by khaibao-bench with dir='docs/bench' sizes='1k 3.3k 10.1k').
set datafile separator ','
set terminal pngcairo size 1100,650 noenhanced font ',10'
set key top left
set grid

set output dir.'/throughput.png'
set title 'Objects in the cluster over time: raw SSA baseline, declared floor (+ Tenant + status, no operator) and khaibao (objects of Ready tenants), cold start'
set xlabel 'seconds since start'
set ylabel 'objects'
plot for [s in sizes] dir.'/baseline-'.s.'.csv' using 1:2 skip 1 with lines lw 2 title 'baseline '.s, \
     for [s in sizes] dir.'/floor-'.s.'.csv' using 1:2 skip 1 with lines lw 2 dt 3 title 'declared floor '.s, \
     for [s in sizes] dir.'/khaibao-'.s.'.csv' using 1:2 skip 1 with lines lw 2 dt 2 title 'khaibao '.s

set output dir.'/growth.png'
set title 'Cold convergence time by fleet size (median)'
set xlabel 'tenants'
set ylabel 'seconds'
plot dir.'/growth.csv' using 1:2 skip 1 with linespoints lw 2 title 'raw SSA baseline', \
     dir.'/growth.csv' using 1:5 skip 1 with linespoints lw 2 title 'declared floor', \
     dir.'/growth.csv' using 1:3 skip 1 with linespoints lw 2 title 'khaibao'

# The same runs as a rate: objects per second in 5-second bins (the increments of the
# cumulative series above, summed per bin by `smooth frequency`).
B = 5.0
set output dir.'/rate.png'
set title 'Objects per second over time (5 s bins), cold start: raw SSA baseline, declared floor and khaibao'
set xlabel 'seconds since start'
set ylabel 'objects per second'
plot for [s in sizes] dir.'/baseline-'.s.'.csv' using (floor($1/B)*B+B/2):(d=($0==0 ? $2 : $2-prev), prev=$2, d/B) skip 1 smooth frequency with lines lw 2 title 'baseline '.s, \
     for [s in sizes] dir.'/floor-'.s.'.csv' using (floor($1/B)*B+B/2):(d=($0==0 ? $2 : $2-prev), prev=$2, d/B) skip 1 smooth frequency with lines lw 2 dt 3 title 'declared floor '.s, \
     for [s in sizes] dir.'/khaibao-'.s.'.csv' using (floor($1/B)*B+B/2):(d=($0==0 ? $2 : $2-prev), prev=$2, d/B) skip 1 smooth frequency with lines lw 2 dt 2 title 'khaibao '.s
