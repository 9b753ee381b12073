using System.Linq;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/M3ter.Auth.Benchmarks -- --filter '*'
// A benchmark that throws (for example a cold start that made more than one token request) fails the run.
Summary[] summaries = BenchmarkSwitcher.FromAssembly(typeof(M3ter.Auth.Benchmarks.HandlerBenchmarks).Assembly).Run(args).ToArray();
bool failed = summaries.Length == 0 || summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
return failed ? 1 : 0;
