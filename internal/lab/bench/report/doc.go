// Package report is the results side of the benchmark: what a run and a row measured, the
// statistics over them (latency windows, medians, ratios), the goals checked against our rows,
// and how they are presented: results.json, results.md with its tables, and one SVG timeline per
// row. It only reads and writes results; running nginx and the load is internal/lab/bench's, which
// fills these types in, so that the report can be rendered again without a run.
package report
