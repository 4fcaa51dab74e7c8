// Per-product timing behind docs/PERFORMANCE.md's bf16 tables: OpenBLAS sgemm against
// Sources/CMatmulBF16 (oneDNN bfloat16, conversion included) on the training's products.
//   gcc -O2 -ISources/CMatmulBF16/include scripts/bench_bf16_products.c Sources/CMatmulBF16/bf16_gemm.c \
//       -o /tmp/bench_bf16_products -ldnnl -lopenblas -lgomp -lpthread && /tmp/bench_bf16_products
// (unset OPENBLAS_CORETYPE first where a host forces narrower kernels).
#include "ll_bf16.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  int T=20480;
  struct {int m,n,k,ta,tb; float beta; const char*what;} P[]={
    {T,768,256,0,1,0,"T x 768 x 256, x.W^T (gate/up)"},
    {T,256,768,0,0,0,"T x 256 x 768, dY.W (input grad)"},
    {768,256,T,1,0,1,"768 x 256 x T, dY^T.x += (weight grad)"},
    {T,256,256,0,1,1,"T x 256 x 256, x.W^T += (attn out)"},
    {T,1024,256,0,1,0,"T x 1024 x 256, x.W^T (GEGLU in)"},
    {T,512,256,0,1,0,"T x 512 x 256, x.W^T (latent K/V)"},
    {256,1024,T,1,0,1,"256 x 1024 x T, dY^T.x += (latent weight grad)"}};
  for(int s=0;s<7;s++){int m=P[s].m,n=P[s].n,k=P[s].k,ta=P[s].ta,tb=P[s].tb;
    size_t sa=(size_t)m*k, sb=(size_t)k*n;
    float*a=malloc(4*sa),*b=malloc(4*sb),*c=calloc((size_t)m*n,4);
    for(size_t i=0;i<sa;i++)a[i]=(rand()%2000-1000)/1000.f; for(size_t i=0;i<sb;i++)b[i]=(rand()%2000-1000)/1000.f;
    int lda=ta?m:k, ldb=tb?k:n; double fl=2.0*m*n*k; int reps=(int)(2e10/fl)+2;
    double b32=1e9,b16=1e9;
    for(int r=0;r<5;r++){double t0=now();for(int i=0;i<reps;i++)cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,1,a,lda,b,ldb,P[s].beta,c,n);double t=(now()-t0)/reps;if(t<b32)b32=t;
      t0=now();for(int i=0;i<reps;i++)ll_bf16_gemm(ta,tb,m,n,k,a,lda,b,ldb,P[s].beta,c,n);t=(now()-t0)/reps;if(t<b16)b16=t;}
    printf("| %s | %.0f | %.0f | %.2fx |\n",P[s].what,fl/b32/1e9,fl/b16/1e9,b32/b16);
    free(a);free(b);free(c);}
}
