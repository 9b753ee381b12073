using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/M3ter.Auth.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(M3ter.Auth.Benchmarks.HandlerBenchmarks).Assembly).Run(args);
