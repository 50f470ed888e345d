using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Ecrm.Benchmarks.MatcherBenchmarks).Assembly).Run(args);
