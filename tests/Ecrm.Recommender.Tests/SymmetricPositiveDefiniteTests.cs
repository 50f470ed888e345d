using Ecrm.Recommender.Models;
using MathNet.Numerics.LinearAlgebra.Double;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class SymmetricPositiveDefiniteTests
{
    [Fact]
    public void InverseTimesMatrixIsTheIdentityAcrossParallelBlocks()
    {
        // 520 items: large enough for the parallel column loops of the factor and three blocks of the
        // triangular inverse. A is a Gram matrix of sparse 0/1 rows plus a ridge, as in EASE.
        const int n = 520;
        var random = new Random(11);
        var x = DenseMatrix.Create(200, n, (_, _) => random.NextDouble() < 0.05 ? 1 : 0);
        var a = (DenseMatrix)(x.TransposeThisAndMultiply(x) + DenseMatrix.CreateIdentity(n));

        var inverse = SymmetricPositiveDefinite.Invert(a.ToRowMajorArray(), n, progress: null, CancellationToken.None);

        // Symmetric, so its row-major array reads the same column-major.
        var product = new DenseMatrix(n, n, inverse) * a;
        Assert.True((product - DenseMatrix.CreateIdentity(n)).InfinityNorm() < 1e-9);
    }

    [Fact]
    public void AMatrixThatIsNotPositiveDefiniteIsRefused()
    {
        double[] a = [1, 2, 2, 1];

        Assert.Throws<ArgumentException>(() => SymmetricPositiveDefinite.Invert(a, 2, progress: null, CancellationToken.None));
    }
}
