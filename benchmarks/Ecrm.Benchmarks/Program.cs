using BenchmarkDotNet.Running;
using Ecrm.Benchmarks;

// --quick: one short iteration per benchmark (a smoke run); every other argument is BenchmarkDotNet's own.
var quick = args.Contains("--quick");
BenchmarkSwitcher.FromAssembly(typeof(MatcherBenchmarks).Assembly).Run([.. args.Where(a => a != "--quick")], BenchmarkConfig.Create(quick));
